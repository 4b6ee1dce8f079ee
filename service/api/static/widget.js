/*
 * Briefing chat widget: one self-contained script, no framework, no requests to anything
 * but the Briefing API it came from (or the one named by data-api).
 *
 *   <script src="https://briefing.example/widget.js" async
 *           data-title="Ask the archive" data-placeholder="Ask a question…"
 *           data-color="#0b5cad" data-open="false" data-topic="the ferry service"></script>
 *
 * With data-topic, the empty panel offers "Brief me on this story" as a first prompt.
 *
 * Safe by construction: every piece of text from the API is inserted with textContent or
 * as an attribute value, never as HTML; links are followed only when they are http(s).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || customElements.get("briefing-chat")) return;

  function attr(name, fallback) {
    var value = script.getAttribute("data-" + name);
    return value === null || value === "" ? fallback : value;
  }

  function httpUrl(value, base) {
    try {
      var url = new URL(value, base);
      return url.protocol === "http:" || url.protocol === "https:" ? url : null;
    } catch (e) {
      return null;
    }
  }

  var scriptUrl = httpUrl(script.src, document.baseURI);
  var apiUrl = httpUrl(attr("api", scriptUrl ? scriptUrl.origin : location.origin), location.href);
  var API = apiUrl ? apiUrl.href.replace(/\/+$/, "") : location.origin;
  var STORE_KEY = "briefing-chat:" + API;

  var STYLES = [
    ":host { all: initial; position: fixed; right: 16px; bottom: 16px; z-index: 2147483000;",
    "  font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1b1b1f;",
    "  --accent: #0b5cad; }",
    "* { box-sizing: border-box; }",
    "button, input { font: inherit; }",
    ":focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }",
    ".launcher { display: flex; align-items: center; gap: 8px; margin-left: auto;",
    "  border: 0; border-radius: 999px; padding: 12px 18px; cursor: pointer;",
    "  background: var(--accent); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".panel { display: flex; flex-direction: column; width: min(400px, calc(100vw - 32px));",
    "  height: min(600px, calc(100vh - 96px)); margin-bottom: 12px; background: #fff;",
    "  border: 1px solid #d0d4da; border-radius: 12px; overflow: hidden;",
    "  box-shadow: 0 10px 30px rgba(0,0,0,.25); }",
    ".panel[hidden] { display: none; }",
    "header { display: flex; align-items: center; gap: 8px; padding: 10px 12px;",
    "  background: var(--accent); color: #fff; }",
    "header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }",
    "header button { border: 0; background: transparent; color: #fff; cursor: pointer;",
    "  padding: 4px 8px; border-radius: 6px; font-size: 13px; }",
    "header button.close { font-size: 20px; line-height: 1; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;",
    "  gap: 12px; background: #f7f8fa; }",
    ".hint { color: #555; font-size: 14px; margin: 0; }",
    ".q { align-self: flex-end; max-width: 85%; background: var(--accent); color: #fff;",
    "  padding: 8px 12px; border-radius: 12px 12px 2px 12px; margin: 0; }",
    ".a { align-self: flex-start; max-width: 100%; background: #fff; border: 1px solid #e1e4e8;",
    "  padding: 10px 12px; border-radius: 12px 12px 12px 2px; }",
    ".resolved { font-size: 12px; color: #555; margin: 0 0 6px; }",
    "blockquote { margin: 0 0 8px; padding: 2px 0 2px 10px; border-left: 3px solid var(--accent); }",
    "blockquote p { margin: 0 0 4px; }",
    ".chip { display: inline-block; font-size: 12px; line-height: 1.35; color: #0b3a6e;",
    "  background: #e8f0fb; border-radius: 8px; padding: 2px 8px; text-decoration: none;",
    "  max-width: 100%; overflow-wrap: anywhere; }",
    "a.chip:hover { text-decoration: underline; }",
    ".none { margin: 0; color: #6b4e00; }",
    ".points { margin: 0; padding: 0 0 0 20px; display: flex; flex-direction: column; gap: 8px; }",
    ".points li p { margin: 0 0 4px; }",
    ".points time { display: block; font-size: 12px; font-weight: 600; color: #555; }",
    ".kicker { margin: 0 0 6px; font-size: 13px; font-weight: 600; color: #333; }",
    ".prompt { align-self: flex-start; border: 1px solid var(--accent); color: var(--accent);",
    "  background: #fff; border-radius: 999px; padding: 6px 12px; cursor: pointer; }",
    ".error { margin: 0; color: #a4001f; }",
    ".error button { margin-left: 6px; }",
    ".loading { margin: 0; color: #555; font-style: italic; }",
    "form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e1e4e8; background: #fff; }",
    "input { flex: 1; min-width: 0; padding: 9px 10px; border: 1px solid #9aa1ab; border-radius: 8px; }",
    "form button { border: 0; border-radius: 8px; padding: 9px 14px; cursor: pointer;",
    "  background: var(--accent); color: #fff; }",
    "form button[disabled] { opacity: .6; cursor: progress; }",
    ".sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }",
  ].join("\n");

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        if (key === "text") node.textContent = props[key];
        else if (key === "className") node.className = props[key];
        else node.setAttribute(key, props[key]);
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function load() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && Array.isArray(saved.turns)) return saved;
    } catch (e) {
      /* unreadable or blocked storage: start afresh */
    }
    return { conversationId: null, turns: [], open: null };
  }

  class BriefingChat extends HTMLElement {
    constructor() {
      super();
      this.state = load();
      this.busy = false;
      var root = this.attachShadow({ mode: "open" });
      root.appendChild(el("style", { text: STYLES }));
      var color = attr("color", "");
      if (color && window.CSS && window.CSS.supports("color", color)) {
        this.style.setProperty("--accent", color);
      }
      var title = attr("title", "Ask the archive");
      this.panel = el("section", {
        className: "panel",
        role: "dialog",
        "aria-label": title,
        hidden: "",
      });
      this.closeButton = el("button", {
        type: "button",
        className: "close",
        "aria-label": "Close " + title,
        text: "×",
      });
      this.resetButton = el("button", {
        type: "button",
        "aria-label": "Start a new conversation",
        text: "New",
      });
      this.log = el("div", {
        className: "log",
        role: "log",
        "aria-live": "polite",
        "aria-label": "Conversation",
        tabindex: "0",
      });
      this.input = el("input", {
        type: "text",
        name: "question",
        maxlength: "1000",
        autocomplete: "off",
        placeholder: attr("placeholder", "Ask a question about the news…"),
        "aria-label": "Your question",
      });
      this.send = el("button", { type: "submit", text: "Ask" });
      this.form = el("form", { "aria-label": "Ask a question" }, [this.input, this.send]);
      this.panel.appendChild(
        el("header", null, [el("h2", { text: title }), this.resetButton, this.closeButton])
      );
      this.panel.appendChild(this.log);
      this.panel.appendChild(this.form);
      this.launcher = el("button", {
        type: "button",
        className: "launcher",
        "aria-label": "Open " + title,
        "aria-expanded": "false",
        text: title,
      });
      root.appendChild(this.panel);
      root.appendChild(this.launcher);

      var self = this;
      this.launcher.addEventListener("click", function () {
        self.setOpen(self.panel.hidden);
      });
      this.closeButton.addEventListener("click", function () {
        self.setOpen(false);
      });
      this.resetButton.addEventListener("click", function () {
        self.reset();
      });
      this.panel.addEventListener("keydown", function (event) {
        if (event.key === "Escape") self.setOpen(false);
      });
      this.form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.ask(self.input.value);
      });
    }

    connectedCallback() {
      this.render();
      var open = this.state.open === null ? attr("open", "false") === "true" : this.state.open;
      this.setOpen(open, true);
    }

    save() {
      try {
        sessionStorage.setItem(STORE_KEY, JSON.stringify(this.state));
      } catch (e) {
        /* storage full or blocked: the conversation still works, it just won't survive */
      }
    }

    setOpen(open, quiet) {
      this.panel.hidden = !open;
      this.launcher.setAttribute("aria-expanded", open ? "true" : "false");
      this.state.open = open;
      this.save();
      if (quiet) return;
      if (open) this.input.focus();
      else this.launcher.focus();
    }

    reset() {
      var id = this.state.conversationId;
      if (id) {
        fetch(API + "/conversations/" + encodeURIComponent(id), { method: "DELETE" }).catch(
          function () {}
        );
      }
      this.state = { conversationId: null, turns: [], open: true };
      this.save();
      this.render();
      this.input.focus();
    }

    render() {
      while (this.log.firstChild) this.log.removeChild(this.log.firstChild);
      var self = this;
      if (!this.state.turns.length) {
        this.log.appendChild(
          el("p", {
            className: "hint",
            text: "Ask a question: every answer is quoted word for word from the archive, with its source.",
          })
        );
        var topic = attr("topic", "");
        if (topic && !this.busy) {
          var prompt = el("button", {
            type: "button",
            className: "prompt",
            text: "Brief me on this story",
          });
          prompt.addEventListener("click", function () {
            self.ask("Brief me on " + topic);
          });
          this.log.appendChild(prompt);
        }
      }
      this.state.turns.forEach(function (turn) {
        self.log.appendChild(el("p", { className: "q", text: turn.question }));
        self.log.appendChild(self.renderAnswer(turn));
      });
      if (this.busy) {
        this.log.appendChild(el("p", { className: "loading", text: "Searching the archive…" }));
      }
      if (this.error) {
        var retry = el("button", { type: "button", text: "Try again" });
        retry.addEventListener("click", function () {
          self.ask(self.error.question);
        });
        this.log.appendChild(
          el("p", { className: "error", role: "alert", text: this.error.message }, [retry])
        );
      }
      this.log.setAttribute("aria-busy", this.busy ? "true" : "false");
      this.send.disabled = this.busy;
      this.log.scrollTop = this.log.scrollHeight;
    }

    renderAnswer(turn) {
      var box = el("div", { className: "a" });
      var r = turn.response;
      if (r.resolved_question && r.resolved_question !== r.question) {
        box.appendChild(el("p", { className: "resolved", text: "Read as: " + r.resolved_question }));
      }
      var briefing = r.mode === "briefing";
      if (!r.answered) {
        box.appendChild(
          el("p", {
            className: "none",
            text: briefing
              ? "Nothing in the archive on this topic. Try other words."
              : "Not in the archive: no article answers this. Try other words or another question.",
          })
        );
        return box;
      }
      var cited = {};
      (r.citations || []).forEach(function (c) {
        cited[c.n] = c;
      });
      if (briefing) {
        // Key points in reading order (oldest article first), each dated and cited.
        box.appendChild(el("p", { className: "kicker", text: "Key points" }));
        var list = el("ol", { className: "points" });
        (r.quotes || []).forEach(function (q) {
          var c = cited[q.citation] || { n: q.citation, title: q.article_id };
          list.appendChild(
            el("li", null, [
              el("time", c.published ? { datetime: c.published, text: c.published } : { text: "Undated" }),
              el("p", { text: q.text }),
              chip(c, q),
            ])
          );
        });
        box.appendChild(list);
        return box;
      }
      (r.quotes || []).forEach(function (q) {
        var c = cited[q.citation] || { n: q.citation, title: q.article_id };
        box.appendChild(
          el("blockquote", null, [el("p", { text: q.text }), chip(c, q)])
        );
      });
      return box;
    }

    ask(text) {
      var question = (text || "").trim();
      if (!question || this.busy) return;
      this.busy = true;
      this.error = null;
      this.input.value = "";
      this.render();
      var self = this;
      var body = { question: question };
      if (this.state.conversationId) body.conversation_id = this.state.conversationId;
      post(body)
        .then(function (result) {
          if (result.status === 404 && body.conversation_id) {
            // The conversation expired on the server: start a new one with this question.
            self.state.conversationId = null;
            delete body.conversation_id;
            return post(body);
          }
          return result;
        })
        .then(function (result) {
          if (result.status !== 200) {
            var message = result.data && result.data.error ? result.data.error.message : "";
            if (result.status === 503) message = "The archive is getting ready; try again in a moment.";
            throw new Error(message || "The archive could not answer (HTTP " + result.status + ").");
          }
          self.state.conversationId = result.data.conversation_id;
          self.state.turns.push({ question: question, response: result.data });
          self.save();
        })
        .catch(function (err) {
          var message = err && err.message && err.name === "Error" ? err.message : "";
          self.error = {
            question: question,
            message: message || "Could not reach the archive. Check your connection and try again.",
          };
        })
        .then(function () {
          self.busy = false;
          self.render();
          self.input.focus();
        });
    }
  }

  function post(body) {
    return fetch(API + "/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          return { status: response.status, data: data };
        });
    });
  }

  function chip(c, q) {
    var parts = ["[" + c.n + "] " + (c.title || "Untitled")];
    if (c.source) parts.push(c.source);
    if (c.published) parts.push(c.published);
    var label = parts.join(" · ");
    var target = c.url
      ? httpUrl(c.url, location.href)
      : httpUrl(
          API +
            "/read/" +
            encodeURIComponent(c.article_id) +
            "?start=" +
            encodeURIComponent(q.start) +
            "&end=" +
            encodeURIComponent(q.end) +
            "#quote",
          location.href
        );
    if (!target) return el("span", { className: "chip", text: label });
    return el("a", {
      className: "chip",
      href: target.href,
      target: "_blank",
      rel: "noopener noreferrer",
      title: label,
      text: label,
    });
  }

  customElements.define("briefing-chat", BriefingChat);
  function mount() {
    document.body.appendChild(document.createElement("briefing-chat"));
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
