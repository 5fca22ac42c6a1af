// coursebot panel: the little behaviour the server-rendered pages need (no framework).
"use strict";

// Selects that submit their form when changed (account switcher, language); the form keeps
// its own submit button for keyboards and browsers without scripts.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => {
    if (select.value) select.form.requestSubmit();
  });
});

// Buttons that ask before doing something that cannot be undone (revoke, ban, stop).
document.querySelectorAll("[data-confirm]").forEach((button) => {
  button.addEventListener("click", (event) => {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
});

// "Copy" buttons: copy the value of the field they name, and say so to screen readers too.
async function copyText(text, field) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  field.select(); // plain-http panels: the old way still works there
  if (!document.execCommand("copy")) throw new Error("copy refused");
}

document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = button.parentElement.querySelector(".copy-status");
    try {
      await copyText(field.value, field);
      if (status) status.textContent = button.dataset.copied;
    } catch (error) {
      field.select();
      if (status) status.textContent = button.dataset.copyFailed;
    }
  });
});

// A notice ("The token is created.") is shown once: drop it from the address, so a reload
// or a bookmark does not repeat it.
const url = new URL(window.location.href);
if (url.searchParams.has("notice")) {
  url.searchParams.delete("notice");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}
