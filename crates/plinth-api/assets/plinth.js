// Plinth's small script for every page (the pages work without it):
// - the links the mlflow client prints (`HOST/#/experiments/ID/runs/RUN`, and the same
//   under `/projects/ORG/NAME/`): the fragment never reaches the server, so the page it
//   lands on sends the browser on to the run (the login page keeps it for afterwards);
// - copy buttons (`button.copy[data-copy]`) for values shown cut;
// - the menu button that opens the sidebar on narrow screens.
// Served as a file: the CSP allows no inline scripts.
"use strict";

(() => {
  document.documentElement.classList.add("js");
  // ---------- the mlflow client's links ----------
  const hash = window.location.hash;
  const path = window.location.pathname.replace(/\/+$/, "");
  if (hash.startsWith("#/")) {
    const login = document.querySelector("form[action='/login'] input[name=next], form[action='/login/mfa'] input[name=next]");
    if (login) {
      if (!login.value.includes("#")) {
        login.value += hash;
      }
    } else {
      const project = path.match(/^\/projects\/[^/]+\/[^/]+$/);
      const base = project ? path : "";
      const parts = hash.slice(2).split("/").map(decodeURIComponent);
      let target = null;
      if (parts[0] === "experiments" && parts[2] === "runs" && parts[3]) {
        target = project ? `${base}/runs/${encodeURIComponent(parts[3])}` : `/runs/${encodeURIComponent(parts[3])}`;
      } else if (parts[0] === "experiments" && parts[1]) {
        target = project ? `${base}/experiments/${encodeURIComponent(parts[1])}` : "/experiments";
      } else if (parts[0] === "models" && parts[1] && project) {
        target = `${base}/models/${encodeURIComponent(parts[1])}`;
        if (parts[2] === "versions" && parts[3]) {
          target += `/versions/${encodeURIComponent(parts[3])}`;
        }
      } else if (parts[0] === "models") {
        target = "/models";
      }
      if (target && (path === "" || project)) {
        window.location.replace(target);
        return;
      }
    }
  }

  // ---------- copy buttons ----------
  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("button.copy[data-copy]") : null;
    if (!button) {
      return;
    }
    const label = button.querySelector(".copy-label") || button;
    const done = (text) => {
      const before = label.textContent;
      label.textContent = text;
      button.dataset.copied = "true";
      setTimeout(() => {
        label.textContent = before;
      }, 1200);
    };
    const value = button.dataset.copy;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(() => done("Copied"), () => done("Copy failed"));
    } else {
      // Plain http: select the value for Ctrl+C instead.
      const field = document.createElement("textarea");
      field.value = value;
      field.setAttribute("aria-hidden", "true");
      field.className = "copy-buffer";
      document.body.appendChild(field);
      field.select();
      let ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (error) {
        ok = false;
      }
      field.remove();
      done(ok ? "Copied" : "Copy failed");
    }
  });

  // ---------- the sidebar on narrow screens ----------
  const menu = document.getElementById("menu-button");
  const sidebar = document.getElementById("sidebar");
  if (menu && sidebar) {
    menu.hidden = false;
    menu.addEventListener("click", () => {
      const open = sidebar.classList.toggle("open");
      menu.setAttribute("aria-expanded", String(open));
    });
  }
})();
