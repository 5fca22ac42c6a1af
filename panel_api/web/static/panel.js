// coursebot panel: the little behaviour the server-rendered pages need (no framework).
"use strict";

// With scripts on, the header's selects submit themselves and their buttons are hidden
// (panel.css), which keeps the header one line on a phone.
document.documentElement.classList.add("js");

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

// Logging in with Telegram: Telegram's own script (telegram-widget.js) opens its confirmation
// window and hands the signed login to the callback, which posts it with the page's form. The
// signed fields never travel in a URL (access logs keep URLs), and the form carries the login
// page's nonce, so the login completes only in this browser.
const telegramLogin = document.getElementById("telegram-login");
if (telegramLogin) {
  const status = telegramLogin.querySelector("[data-login-status]");
  telegramLogin.querySelector("button[data-telegram-login]").addEventListener("click", () => {
    const widget = window.Telegram && window.Telegram.Login;
    if (!widget) {
      status.textContent = telegramLogin.dataset.unavailable;
      return;
    }
    const options = {
      bot_id: telegramLogin.dataset.botId,
      request_access: "write",
      lang: telegramLogin.dataset.lang,
    };
    widget.auth(options, (user) => {
      if (!user) {
        status.textContent = telegramLogin.dataset.cancelled;
        return;
      }
      telegramLogin.elements.auth_data.value = JSON.stringify(user);
      telegramLogin.submit();
    });
  });
}

// A notice ("The token is created.") is shown once: drop it from the address, so a reload
// or a bookmark does not repeat it.
const url = new URL(window.location.href);
if (url.searchParams.has("notice")) {
  url.searchParams.delete("notice");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}

// Live pages (the overview's numbers): reload while the tab is visible.
document.querySelectorAll("[data-refresh]").forEach((element) => {
  const seconds = Number(element.dataset.refresh);
  if (!(seconds > 0)) return;
  setInterval(() => {
    if (document.visibilityState === "visible") window.location.reload();
  }, seconds * 1000);
});
