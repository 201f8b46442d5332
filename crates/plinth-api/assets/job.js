// Plinth job page: while the job has not finished, follows its output into the log and
// refreshes its state every 2 s. The page works without this script (it shows the output
// as of loading and a Refresh link). Served as a file: the CSP allows no inline scripts.
"use strict";

(() => {
  const log = document.getElementById("job-log");
  if (!log || log.dataset.finished !== "false" || !window.fetch || !window.TextDecoder) {
    return;
  }
  const FINISHED = ["succeeded", "failed", "stopped", "lost"];
  const MAX_CHARS = 2 * 1024 * 1024;
  const POLL_MS = 2000;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // One text node holds the output; appending to it is cheap.
  let text = log.firstChild;
  if (!text || text.nodeType !== Node.TEXT_NODE) {
    log.textContent = "";
    text = log.appendChild(document.createTextNode(""));
  }
  // Where the shown output ends, in bytes; absent when the page showed only the tail of a
  // longer output, in which case the script reads the tail again and follows that.
  let offset = log.dataset.offset === undefined ? null : Number(log.dataset.offset);
  let finished = false;

  // Stay at the bottom unless the reader scrolled up.
  let stick = true;
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  log.addEventListener("scroll", () => {
    stick = atBottom();
  });
  const keepDown = () => {
    if (stick) {
      log.scrollTop = log.scrollHeight;
    }
  };
  keepDown();

  const append = (chunk) => {
    if (!chunk) {
      return;
    }
    text.appendData(chunk);
    if (text.length > MAX_CHARS) {
      text.deleteData(0, text.length - MAX_CHARS);
    }
    keepDown();
  };

  async function follow() {
    for (;;) {
      const replace = offset === null;
      const query = replace
        ? `follow=true&tail=${encodeURIComponent(log.dataset.tail)}`
        : `follow=true&offset=${offset}`;
      try {
        const response = await fetch(`${log.dataset.logs}?${query}`, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "text/plain" },
        });
        if (response.status >= 400 && response.status < 500) {
          // Signed out, or the job is gone: the Refresh link still works.
          return;
        }
        if (!response.ok || !response.body) {
          throw new Error(`HTTP ${response.status}`);
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let first = replace;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            break;
          }
          if (first) {
            text.data = "";
            first = false;
          }
          if (offset !== null) {
            offset += value.byteLength;
          }
          append(decoder.decode(value, { stream: true }));
        }
        append(decoder.decode());
        // A followed stream ends when the job does.
        return;
      } catch (error) {
        if (finished) {
          return;
        }
        await sleep(POLL_MS);
      }
    }
  }

  const set = (id, value) => {
    const element = document.getElementById(id);
    if (element) {
      element.textContent = value;
    }
  };
  const dash = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));
  const time = (ms) => (ms === null || ms === undefined
    ? "—"
    : `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`);
  const duration = (ms) => {
    if (ms === null || ms === undefined) {
      return "—";
    }
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  };

  const show = (job) => {
    const badge = document.getElementById("job-state");
    if (badge) {
      badge.textContent = job.state;
      badge.className = `badge state-${job.state}`;
    }
    set("job-state-text", job.state);
    set("job-reason", dash(job.reason));
    set("job-queue", job.queue_position ? `#${job.queue_position}` : "—");
    set("job-exit-code", dash(job.exit_code));
    set("job-started", time(job.started_at_ms));
    set("job-finished", time(job.finished_at_ms));
    set("job-duration", duration(job.duration_ms));
    if (FINISHED.includes(job.state)) {
      const stop = document.getElementById("stop-form");
      if (stop) {
        stop.hidden = true;
      }
      set("job-live", "The job has ended; this is its output.");
    }
  };

  async function poll() {
    while (!finished) {
      try {
        const response = await fetch(log.dataset.job, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const job = await response.json();
          show(job);
          finished = FINISHED.includes(job.state);
        }
      } catch (error) {
        // Offline for a moment: try again at the next tick.
      }
      if (!finished) {
        await sleep(POLL_MS);
      }
    }
  }

  follow();
  poll();
})();
