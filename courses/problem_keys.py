"""The stable names of the problems a course source can have.

A diagnostic's English `message` is for the CLI and the API; its `key` (one of these) with
its `params` lets the panel say the same problem in the reader's language: the panel's
catalogs hold `course_problem.<key>` for every key here (a test scans this enum). The keys
are plain strings so this layer needs nothing from the panel. Never rename one: API clients
may match on it.

A parameter named `got` is what was written instead, as one of `KINDS` (the catalogs have
`course_problem.kind.<kind>`); the others are shown as they are (ids, numbers, the written
text, shortened); parameters starting with `in_` say where (see `PARTS`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

KIND_PARAM: Final = "got"
KINDS: Final = ("mapping", "list", "nothing", "boolean", "number", "text")
PARTS: Final = ("answer", "option", "threshold")
"""A problem inside one of these has `in_part` (one of them), `in_position` (its number, or
a threshold's percentage) and, for a field of an answer or option, `in_field`; the catalogs
have `course_problem.part.<part>` and say the place before the problem."""


class Problem(StrEnum):
    ALIAS_BOMB = "alias_bomb"
    AUDIO_NO_URL = "audio_no_url"
    BAD_CHARACTER = "bad_character"
    BAD_DURATION = "bad_duration"
    BAD_INDENT = "bad_indent"
    BAD_MERGE_KEY = "bad_merge_key"
    BAD_THRESHOLD = "bad_threshold"
    BUTTON_AND_OPTIONS = "button_and_options"
    COLON_IN_TEXT = "colon_in_text"
    DEFINED_TWICE = "defined_twice"
    DEFINED_TWICE_NAMED = "defined_twice_named"
    DELAY_WITHOUT_GOTO = "delay_without_goto"
    ELEMENT_NOT_MAPPING = "element_not_mapping"
    EMPTY = "empty"
    EMPTY_FILE = "empty_file"
    EMPTY_ID = "empty_id"
    EMPTY_IGNORED = "empty_ignored"
    EXPECTED_DURATION = "expected_duration"
    EXPECTED_HTTPS = "expected_https"
    EXPECTED_LIST = "expected_list"
    EXPECTED_NUMBER = "expected_number"
    EXPECTED_POSITIVE_WHOLE = "expected_positive_whole"
    EXPECTED_TEXT = "expected_text"
    EXPECTED_TYPE_NAME = "expected_type_name"
    EXPECTED_URL_LIST = "expected_url_list"
    EXPECTED_YES_NO = "expected_yes_no"
    GOTO_UNKNOWN = "goto_unknown"
    ID_FIELD_IGNORED = "id_field_ignored"
    ID_NOT_ONE_LINE = "id_not_one_line"
    ID_TOO_LONG = "id_too_long"
    INTERNAL = "internal"
    JUMP_WITHOUT_OPTIONS = "jump_without_options"
    KEY_NOT_TEXT = "key_not_text"
    LEGACY_DELAY = "legacy_delay"
    LIST_ITEM_NOT_MAPPING = "list_item_not_mapping"
    LOOP_WITHOUT_ANSWER = "loop_without_answer"
    MEDIA_NOT_HTTP = "media_not_http"
    MEDIA_NOT_URL = "media_not_url"
    MEDIA_WORDS_AFTER_LINK = "media_words_after_link"
    MISSING_COLON = "missing_colon"
    MISSING_FIELD = "missing_field"
    MULTI_CHOICE_NO_CORRECT = "multi_choice_no_correct"
    NOT_ONE_OF = "not_one_of"
    NOT_UTF8 = "not_utf8"
    NOT_YAML = "not_yaml"
    NO_ELEMENTS = "no_elements"
    NO_VERDICT_FOR_100 = "no_verdict_for_100"
    ONLY_WITH_CONTINUE = "only_with_continue"
    OUT_OF_RANGE = "out_of_range"
    PERSONAL_REF_UNKNOWN = "personal_ref_unknown"
    POLL_ANSWER_COUNT = "poll_answer_count"
    POLL_OPTION_TOO_LONG = "poll_option_too_long"
    POLL_QUESTION_TOO_LONG = "poll_question_too_long"
    PREFIX_MATCHES_NOTHING = "prefix_matches_nothing"
    PROMPT_VARIABLE_UNKNOWN = "prompt_variable_unknown"
    QUESTION_CORRECT_IGNORED = "question_correct_ignored"
    QUIZ_MANY_CORRECT = "quiz_many_correct"
    QUIZ_NO_CORRECT = "quiz_no_correct"
    RECURSIVE_ALIAS = "recursive_alias"
    RESERVED_START = "reserved_start"
    SCORE_NOT_MAPPING = "score_not_mapping"
    SHEET_BAD_THRESHOLD = "sheet_bad_threshold"
    SHEET_BAD_YAML = "sheet_bad_yaml"
    SHEET_COLUMN_TWICE = "sheet_column_twice"
    SHEET_EMPTY = "sheet_empty"
    SHEET_ID_TWICE = "sheet_id_twice"
    SHEET_NO_COLUMN = "sheet_no_column"
    SHEET_NO_ELEMENTS = "sheet_no_elements"
    SHEET_ROW_WITHOUT_ELEMENT = "sheet_row_without_element"
    SHEET_ROW_WITHOUT_ID = "sheet_row_without_id"
    SHEET_YAML_NOT_MAPPING = "sheet_yaml_not_mapping"
    SUB_NO_TEXT = "sub_no_text"
    TAB = "tab"
    TOO_DEEP = "too_deep"
    TOO_LARGE = "too_large"
    TOP_NOT_MAPPING = "top_not_mapping"
    UNCLOSED_BRACKET = "unclosed_bracket"
    UNCLOSED_QUOTE = "unclosed_quote"
    UNDEFINED_ALIAS = "undefined_alias"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_NAME_IN_TEXT = "unknown_name_in_text"
    UNKNOWN_SUB_FIELD = "unknown_sub_field"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_TYPE_SUGGESTED = "unknown_type_suggested"
    UNREADABLE = "unreadable"
    WAIT_TEXT_WITHOUT_WAIT = "wait_text_without_wait"
    WAIT_TOO_LONG = "wait_too_long"
