/* 豫事办 · 一件事一次办 — web chat client.
 * Plain ES2020, no dependencies. All message content is inserted as text
 * nodes (never innerHTML), so server text can never inject markup. */
(() => {
  "use strict";

  const API_URL = "/api/v1/chat";
  const REQUEST_TIMEOUT_MS = 30000;

  const WELCOME_TEXT =
    "您好！我是豫事办“一件事一次办”助手。\n" +
    "告诉我您要办的事，我帮您一次说清：要带哪些材料、哪些能免交、去哪办、多久办好。\n" +
    "您可以这样问：";
  const SUGGESTIONS = ["娃刚生下来要办啥手续", "开个小饭馆要跑哪些部门", "我要办退休", "你能办哪些事"];

  const $messages = document.getElementById("messages");
  const $input = document.getElementById("chat-input");
  const $send = document.getElementById("chat-send");
  const $reset = document.getElementById("chat-reset");

  let busy = false;
  let generation = 0; // bumped on reset so late answers of an old session are dropped
  let lastGuideId = null;
  let typingRow = null;

  /* ---------------- identity ----------------
   * The page signs in as an anonymous demo identity (POST /api/v1/auth/demo): a signed,
   * expiring token whose user id starts with "demo-", shown in the top bar. The mini-program
   * signs in with wx.login instead; the chat API takes the user from the token. */

  const SESSION_KEY = "yishiban_demo_session";
  const AUTH_URL = "/api/v1/auth/demo";
  let memorySession = null;

  function storedSession() {
    let session = memorySession;
    try {
      const raw = localStorage.getItem(SESSION_KEY);
      if (raw) session = JSON.parse(raw);
    } catch (e) {
      /* storage unavailable (private mode) or damaged: use memory */
    }
    if (!session || typeof session.token !== "string") return null;
    if (typeof session.expires_at === "number" && session.expires_at * 1000 < Date.now() + 60000) return null;
    return session;
  }

  function showIdentity(session) {
    const $who = document.getElementById("chat-identity");
    if ($who) $who.textContent = session ? "匿名演示身份 " + String(session.user_id || "").slice(0, 13) : "";
  }

  async function newSession() {
    const res = await fetch(AUTH_URL, { method: "POST", headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!res.ok) throw new Error("auth " + res.status);
    const data = await res.json();
    const session = { token: data.token, user_id: data.user_id, expires_at: data.expires_at };
    memorySession = session;
    try {
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
    } catch (e) {
      /* keep it in memory */
    }
    showIdentity(session);
    return session;
  }

  async function getSession(renew) {
    const session = renew ? null : storedSession();
    if (session) {
      showIdentity(session);
      return session;
    }
    return newSession();
  }

  function forgetSession() {
    memorySession = null;
    try {
      localStorage.removeItem(SESSION_KEY);
    } catch (e) {
      /* ignore */
    }
    showIdentity(null);
  }

  /* ---------------- DOM helpers ---------------- */

  /** Create an element. attrs: class, text, data-*, aria-*, other attributes.
   *  children: nodes or strings (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = String(v);
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children) append(node, c);
    return node;
  }

  function append(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach((c) => append(parent, c));
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }

  /** Safe string for display: strings and numbers only. */
  function str(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "bigint") return String(v);
    if (typeof v === "boolean") return v ? "是" : "否";
    return "";
  }

  function arr(v) {
    return Array.isArray(v) ? v : [];
  }

  /** Text with newlines → text nodes separated by <br>. */
  function multiline(text) {
    const frag = document.createDocumentFragment();
    const lines = str(text).replace(/\r\n?/g, "\n").split("\n");
    lines.forEach((line, i) => {
      if (i > 0) frag.appendChild(document.createElement("br"));
      if (line) frag.appendChild(document.createTextNode(line));
    });
    return frag;
  }

  function safeUrl(url) {
    const s = str(url).trim();
    if (!s) return null;
    try {
      const u = new URL(s, window.location.href);
      if (u.protocol === "http:" || u.protocol === "https:") return u;
    } catch (e) {
      /* invalid */
    }
    return null;
  }

  /* ---------------- message rows ---------------- */

  function botRow(type, guide, bodyChildren, opts = {}) {
    const gid = guide && str(guide.id);
    const row = el("div", {
      class: "msg bot" + (opts.wide ? " wide" : ""),
      "data-type": type,
      "data-guide-id": gid || null,
    });
    row.appendChild(el("span", { class: "avatar", "aria-hidden": "true" }));
    const body = el("div", { class: "msg-body" });
    // Small guide label when the conversation moves onto a (new) guide;
    // checklist cards carry the title in their own header.
    if (gid && gid !== lastGuideId && type !== "checklist" && str(guide.title)) {
      body.appendChild(el("div", { class: "guide-tag", text: "事项：" + str(guide.title) }));
    }
    if (gid) lastGuideId = gid;
    append(body, bodyChildren);
    row.appendChild(body);
    return row;
  }

  function textBubble(text) {
    return el("div", { class: "bubble" }, el("div", { class: "bubble-text" }, multiline(text)));
  }

  function cardBubble(card) {
    return el("div", { class: "bubble bubble-card" }, card);
  }

  function addRow(row) {
    removeTyping();
    $messages.appendChild(row);
    return row;
  }

  function addUser(text) {
    return addRow(
      el("div", { class: "msg user", "data-type": "text" }, el("div", { class: "msg-body" }, textBubble(text)))
    );
  }

  function addNotice(text, isError) {
    const row = el(
      "div",
      { class: "msg system" + (isError ? " error" : ""), role: "status" },
      el("span", { class: "notice" }, multiline(text))
    );
    addRow(row);
    scrollToBottom();
    return row;
  }

  /* ---------------- renderers per message type ---------------- */

  function renderChoices(msg) {
    const group = el("div", { class: "choices", role: "group", "aria-label": "可选项" });
    for (const c of arr(msg.choices)) {
      if (!c || typeof c !== "object") continue;
      const title = str(c.title) || str(c.payload);
      if (!title) continue;
      const payload = c.payload === undefined || c.payload === null ? title : str(c.payload);
      const btn = el("button", { type: "button", class: "choice-btn", "data-payload": payload, text: title });
      btn.addEventListener("click", () => onChoice(btn, title, payload));
      group.appendChild(btn);
    }
    const bubble = el("div", { class: "bubble" });
    if (str(msg.text)) bubble.appendChild(el("div", { class: "bubble-text" }, multiline(msg.text)));
    if (group.childNodes.length) bubble.appendChild(group);
    return botRow("choices", msg.guide, bubble);
  }

  function needText(m) {
    const form = str(m.form);
    const copies = str(m.copies);
    let spec = form;
    if (copies) spec += copies + "份";
    return spec ? "需提交 · " + spec : "需提交";
  }

  function section(titleText, cls, ...children) {
    return el(
      "section",
      { class: "cl-section" + (cls ? " " + cls : "") },
      titleText ? el("h3", { class: "cl-section-title", text: titleText }) : null,
      ...children
    );
  }

  function kvRow(label, value) {
    if (value === null || value === undefined || value === "") return null;
    return el("div", { class: "kv-row" }, el("dt", { text: label }), el("dd", null, value));
  }

  function renderChecklist(msg) {
    const guide = msg.guide && typeof msg.guide === "object" ? msg.guide : {};
    const items = arr(msg.items).filter((x) => x && typeof x === "object");
    const materials = arr(msg.materials).filter((x) => x && typeof x === "object");
    const card = el("article", {
      class: "checklist-card",
      "data-guide-id": str(guide.id) || null,
      "aria-label": (str(guide.title) || "办事清单") + " 一次告知",
    });

    // header
    card.appendChild(
      el(
        "header",
        { class: "cl-head" },
        el("h2", { class: "cl-title", text: str(guide.title) || "办事清单" }),
        el("span", { class: "cl-once", text: "一次告知" })
      )
    );
    if (str(msg.text)) card.appendChild(el("p", { class: "cl-intro" }, multiline(msg.text)));

    // sub-items with departments
    if (items.length) {
      const ul = el("ul", { class: "cl-list cl-items" });
      for (const it of items) {
        ul.appendChild(
          el(
            "li",
            { "data-item-id": str(it.id) || null },
            el("span", { class: "cl-item-title", text: str(it.title) }),
            str(it.dept) ? el("span", { class: "cl-item-dept", text: str(it.dept) }) : null
          )
        );
      }
      card.appendChild(section("一次办理以下" + items.length + "个事项", "cl-items-section", ul));
    }

    // stats row
    const s = msg.stats && typeof msg.stats === "object" ? msg.stats : {};
    const num = (v, fallback) => (typeof v === "number" && isFinite(v) ? v : fallback);
    const exemptCount = materials.filter((m) => m.exempt).length;
    const total = num(s.total, materials.length);
    const exempt = num(s.exempt, exemptCount);
    const toSubmit = num(s.to_submit, total - exempt);
    const deferrable = num(s.deferrable, materials.filter((m) => !m.exempt && m.deferrable).length);
    card.appendChild(
      el(
        "div",
        { class: "cl-stats" },
        "共",
        el("b", { text: total }),
        "项材料",
        el("span", { class: "sep", text: " · " }),
        "免提交",
        el("b", { text: exempt }),
        "项",
        el("span", { class: "sep", text: " · " }),
        "需提交",
        el("b", { text: toSubmit }),
        "项"
      )
    );

    // materials
    if (materials.length) {
      const ul = el("ul", { class: "cl-list cl-materials" });
      for (const m of materials) {
        const exemptFlag = !!m.exempt;
        const deferFlag = !exemptFlag && !!m.deferrable;
        const line = el("div", { class: "mat-line" }, el("span", { class: "mat-name", text: str(m.name) }));
        if (exemptFlag) {
          line.appendChild(el("span", { class: "badge-exempt", title: "免提交", text: "免" }));
        } else if (deferFlag) {
          line.appendChild(el("span", { class: "badge-deferrable", title: "可容缺受理，后补", text: "容缺" }));
        } else {
          line.appendChild(el("span", { class: "mat-need", text: needText(m) }));
        }
        const li = el("li", {
          class: "material" + (exemptFlag ? " is-exempt" : "") + (deferFlag ? " is-deferrable" : ""),
        }, line);
        if (exemptFlag && str(m.exempt_reason)) {
          li.appendChild(el("div", { class: "mat-sub small-grey exempt-reason", text: str(m.exempt_reason) }));
        }
        if (deferFlag) {
          const spec = needText(m).replace(/^需提交 · ?/, "").replace(/^需提交$/, "");
          li.appendChild(
            el("div", { class: "mat-sub small-grey", text: "可先受理、后补交" + (spec ? " · " + spec : "") })
          );
        }
        if (str(m.note)) li.appendChild(el("div", { class: "mat-sub small-grey mat-note", text: str(m.note) }));
        const forItems = arr(m.for_items).map(str).filter(Boolean);
        if (forItems.length && items.length > 1) {
          li.appendChild(el("div", { class: "mat-sub small-grey mat-for", text: "用于：" + forItems.join("、") }));
        }
        ul.appendChild(li);
      }
      const legend =
        exempt > 0 || deferrable > 0
          ? el(
              "p",
              { class: "cl-legend small-grey" },
              exempt > 0 ? "标“免”的材料由部门共享获取，无需提交。" : "",
              deferrable > 0 ? "标“容缺”的可先受理、后补交。" : ""
            )
          : null;
      card.appendChild(section("材料清单", "cl-materials-section", ul, legend));
    }

    // time limit
    if (typeof msg.time_limit_days === "number" && isFinite(msg.time_limit_days)) {
      const days = msg.time_limit_days;
      card.appendChild(
        section(
          null,
          "cl-limit",
          "承诺时限：",
          days > 0 ? el("b", { text: days + "个工作日" }) : el("b", { text: "即办（当场办结）" })
        )
      );
    } else if (str(msg.time_limit_days)) {
      card.appendChild(section(null, "cl-limit", "承诺时限：", el("b", { text: str(msg.time_limit_days) })));
    }

    // where to apply
    const w = msg.where && typeof msg.where === "object" ? msg.where : null;
    if (w) {
      const phone = str(w.phone);
      const tel = phone.replace(/[^0-9+\-,]/g, "");
      const rows = [
        kvRow("办理窗口", str(w.window)),
        kvRow("地址", str(w.address)),
        kvRow("办公时间", str(w.hours)),
        kvRow("网上办理", str(w.online)),
        phone ? kvRow("咨询电话", tel ? el("a", { href: "tel:" + tel, text: phone }) : phone) : null,
      ].filter(Boolean);
      if (rows.length) card.appendChild(section("到哪办", "cl-where-section", el("dl", { class: "cl-where" }, rows)));
    }

    // fees & delivery
    const fees = str(msg.fees);
    const delivery = arr(msg.delivery)
      .map((d) => {
        if (d && typeof d === "object") {
          const t = str(d.title) || str(d.name) || str(d.method) || str(d.text);
          return t + (str(d.note) ? "（" + str(d.note) + "）" : "");
        }
        return str(d);
      })
      .filter(Boolean);
    if (!delivery.length && str(msg.delivery)) delivery.push(str(msg.delivery));
    if (fees || delivery.length) {
      card.appendChild(
        section(
          null,
          "cl-fees-section",
          el("dl", { class: "cl-where" }, kvRow("收费", fees), kvRow("结果领取", delivery.length ? delivery.join("；") : ""))
        )
      );
    }

    // not applicable notes
    const na = arr(msg.not_applicable).filter((x) => x && (typeof x === "object" || typeof x === "string"));
    if (na.length) {
      const ul = el("ul", { class: "cl-list" });
      for (const n of na) {
        if (typeof n === "string") {
          ul.appendChild(el("li", { text: n }));
          continue;
        }
        const t = str(n.title);
        const note = str(n.note);
        ul.appendChild(el("li", null, t ? el("b", { text: t }) : null, t && note ? "：" : "", note));
      }
      card.appendChild(section("以下情形不适用本事项", "cl-na", ul));
    }

    // sample notice
    if (str(msg.sample_notice)) {
      card.appendChild(
        el("footer", { class: "cl-sample small-grey" }, el("p", { class: "sample-notice" }, multiline(msg.sample_notice)))
      );
    }

    return botRow("checklist", msg.guide, cardBubble(card), { wide: true });
  }

  function renderTicket(msg) {
    const t = msg.ticket && typeof msg.ticket === "object" ? msg.ticket : {};
    const depts = arr(t.departments).map(str).filter(Boolean);
    const card = el(
      "div",
      { class: "card ticket-card", "data-ticket-no": str(t.no) || null },
      el(
        "div",
        { class: "card-head" },
        el("h2", { class: "card-title", text: "办件回执" }),
        str(t.status) ? el("span", { class: "status-badge", text: str(t.status) }) : null
      ),
      str(msg.text) ? el("p", { class: "card-intro" }, multiline(msg.text)) : null,
      el(
        "dl",
        { class: "kv" },
        kvRow("办件编号", str(t.no) ? el("span", { class: "ticket-no", text: str(t.no) }) : ""),
        kvRow("事项类别", str(t.category)),
        kvRow("承办部门", depts.join("、")),
        kvRow("办结期限", str(t.deadline))
      )
    );
    return botRow("ticket", msg.guide, cardBubble(card), { wide: true });
  }

  function renderPolicies(msg) {
    const list = arr(msg.policies).filter((p) => p && typeof p === "object");
    const card = el(
      "div",
      { class: "card policies-card" },
      el(
        "div",
        { class: "card-head" },
        el("h2", { class: "card-title" }, multiline(str(msg.text) || "您可能可以享受以下政策"))
      )
    );
    if (!list.length) card.appendChild(el("p", { class: "card-intro small-grey", text: "暂未匹配到相关政策。" }));
    for (const p of list) {
      const why = arr(p.why).map(str).filter(Boolean);
      card.appendChild(
        el(
          "div",
          { class: "policy", "data-policy-id": str(p.id) || null },
          el(
            "div",
            { class: "policy-head" },
            el("span", { class: "policy-title", text: str(p.title) }),
            // the Chinese labels when the backend sends them (list/condition/manual, matched/... otherwise)
            str(p.kind_label || p.kind) ? el("span", { class: "policy-kind", text: str(p.kind_label || p.kind) }) : null,
            str(p.status_label || p.status)
              ? el("span", { class: "status-badge", text: str(p.status_label || p.status) })
              : null
          ),
          str(p.benefit) ? el("p", { class: "policy-benefit", text: str(p.benefit) }) : null,
          why.length
            ? el("ul", { class: "policy-why small-grey", "aria-label": "匹配原因" }, why.map((w) => el("li", { text: w })))
            : null
        )
      );
    }
    return botRow("policies", msg.guide, cardBubble(card), { wide: true });
  }

  function renderLink(msg) {
    const u = safeUrl(msg.url);
    const title = str(msg.title) || str(msg.text) || (u ? u.href : "");
    if (!u) {
      return title ? botRow("link", msg.guide, textBubble(title)) : null;
    }
    const sameOrigin = u.origin === window.location.origin;
    const a = el(
      "a",
      {
        class: "link-card",
        href: u.href,
        target: sameOrigin ? null : "_blank",
        rel: sameOrigin ? null : "noopener noreferrer",
      },
      el("span", { class: "link-title", text: title }),
      el("span", { class: "link-host small-grey", text: sameOrigin ? u.pathname : u.host })
    );
    return botRow("link", msg.guide, el("div", { class: "bubble bubble-card" }, a));
  }

  function renderMessage(msg) {
    if (!msg || typeof msg !== "object") return null;
    switch (msg.type) {
      case "text":
        return str(msg.text) ? botRow("text", msg.guide, textBubble(msg.text)) : null;
      case "choices":
        return renderChoices(msg);
      case "checklist":
        return renderChecklist(msg);
      case "ticket":
        return renderTicket(msg);
      case "policies":
        return renderPolicies(msg);
      case "link":
        return renderLink(msg);
      default:
        return str(msg.text) ? botRow(str(msg.type) || "unknown", msg.guide, textBubble(msg.text)) : null;
    }
  }

  /* ---------------- welcome ---------------- */

  function renderWelcome() {
    const group = el("div", { class: "choices", role: "group", "aria-label": "示例问题" });
    for (const s of SUGGESTIONS) {
      const btn = el("button", { type: "button", class: "suggestion-btn", "data-text": s, text: s });
      btn.addEventListener("click", () => {
        if (busy || btn.disabled) return;
        btn.classList.add("is-selected");
        send({ text: s }, s);
      });
      group.appendChild(btn);
    }
    const bubble = el("div", { class: "bubble" }, el("div", { class: "bubble-text" }, multiline(WELCOME_TEXT)), group);
    const row = botRow("welcome", null, bubble);
    row.classList.add("welcome");
    addRow(row);
  }

  /* ---------------- typing indicator & scrolling ---------------- */

  function showTyping() {
    removeTyping();
    typingRow = el(
      "div",
      { class: "typing-row", id: "typing-indicator", role: "status", "aria-label": "正在回复" },
      el("span", { class: "avatar", "aria-hidden": "true" }),
      el(
        "div",
        { class: "bubble" },
        el("span", { class: "typing-dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
        el("span", { class: "visually-hidden", text: "正在回复…" })
      )
    );
    $messages.appendChild(typingRow);
    scrollToBottom();
  }

  function removeTyping() {
    if (typingRow && typingRow.parentNode) typingRow.parentNode.removeChild(typingRow);
    typingRow = null;
  }

  function scrollToBottom() {
    requestAnimationFrame(() => {
      $messages.scrollTop = $messages.scrollHeight;
    });
  }

  /** Scroll to the newest content; if the first new bot message is taller
   *  than the view (e.g. a long checklist), show its top instead. */
  function scrollToNewest(firstNew) {
    requestAnimationFrame(() => {
      let target = $messages.scrollHeight - $messages.clientHeight;
      if (firstNew && firstNew.parentNode === $messages) {
        const top = firstNew.offsetTop - 8;
        if (top < target) target = top;
      }
      $messages.scrollTop = Math.max(0, target);
    });
  }

  /* ---------------- sending ---------------- */

  function setBusy(on) {
    busy = on;
    $send.disabled = on;
    $messages.setAttribute("aria-busy", on ? "true" : "false");
  }

  function disableOlderChoices() {
    $messages.querySelectorAll(".choice-btn, .suggestion-btn").forEach((b) => {
      b.disabled = true;
    });
  }

  function errorText(status, data) {
    const d = data && data.detail;
    if (typeof d === "string" && d.trim()) return d;
    if (Array.isArray(d)) return "请求内容有误，请换个说法再试。";
    if (d && typeof d === "object" && typeof d.msg === "string") return d.msg;
    if (status === 429) return "请求太频繁了，请稍等片刻再试。";
    if (status >= 500) return "服务暂时不可用（" + status + "），请稍后再试。";
    return "请求失败（" + status + "），请稍后再试。";
  }

  async function post(body, renewed) {
    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS) : null;
    try {
      let session;
      try {
        session = await getSession(false);
      } catch (e) {
        return { ok: false, error: "无法建立演示会话，请稍后再试。" };
      }
      const res = await fetch(API_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: "Bearer " + session.token },
        body: JSON.stringify(body),
        signal: ctrl ? ctrl.signal : undefined,
        credentials: "same-origin",
      });
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (res.status === 401 && !renewed) {
        forgetSession(); // expired or from an earlier server: sign in again, once
        return post(body, true);
      }
      if (!res.ok) return { ok: false, error: errorText(res.status, data) };
      if (!data || typeof data !== "object") return { ok: false, error: "服务返回了无法识别的内容，请稍后再试。" };
      return { ok: true, messages: arr(data.messages) };
    } catch (e) {
      if (e && e.name === "AbortError") return { ok: false, error: "服务响应超时，请稍后再试。" };
      return { ok: false, error: "网络连接失败，请检查网络后重试。" };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * body: {text} or {payload}; shown: the user's bubble text.
   * Returns true on success.
   */
  async function send(body, shown) {
    if (busy) return false;
    const gen = generation;
    setBusy(true);
    addUser(shown);
    showTyping();
    let result;
    try {
      result = await post(body, false);
    } finally {
      if (gen === generation) {
        removeTyping();
        setBusy(false);
      }
    }
    if (gen !== generation) return false; // session was reset meanwhile

    if (!result.ok) {
      addNotice(result.error, true);
      return false;
    }
    const rows = result.messages.map(renderMessage).filter(Boolean);
    if (!rows.length) {
      addNotice("暂时没有回复，请换个说法试试。", false);
      return true;
    }
    disableOlderChoices(); // a newer bot message has arrived
    rows.forEach(addRow);
    scrollToNewest(rows[0]);
    return true;
  }

  async function sendInput() {
    const text = $input.value.trim();
    if (!text || busy) return;
    $input.value = "";
    const ok = await send({ text }, text);
    // keep the user's words on failure so they can retry
    if (!ok && !$input.value) $input.value = text;
  }

  function onChoice(btn, title, payload) {
    if (busy || btn.disabled) return;
    const siblings = btn.parentNode ? btn.parentNode.querySelectorAll(".choice-btn") : [];
    siblings.forEach((b) => b.classList.remove("is-selected"));
    btn.classList.add("is-selected");
    send({ payload }, title).then((ok) => {
      if (!ok) btn.classList.remove("is-selected");
    });
  }

  function resetSession() {
    generation += 1;
    forgetSession();
    getSession(true).catch(() => showIdentity(null));
    removeTyping();
    setBusy(false);
    while ($messages.firstChild) $messages.removeChild($messages.firstChild);
    lastGuideId = null;
    $input.value = "";
    renderWelcome();
    $messages.scrollTop = 0;
    $input.focus();
  }

  /* ---------------- staff preview ----------------
   * The guide editor (/admin/guides/.../preview) frames a page that carries one turn's messages as a
   * JSON data block: they are drawn here by the same code citizens get, and nothing is sent. */

  const previewData = document.getElementById("chat-preview");
  if (previewData) {
    let shown = [];
    try {
      shown = arr(JSON.parse(previewData.textContent || "[]"));
    } catch (e) {
      shown = [];
    }
    shown.forEach((m) => {
      const row = renderMessage(m);
      if (row) addRow(row);
    });
    return;
  }

  /* ---------------- wiring ---------------- */

  $send.addEventListener("click", () => {
    sendInput();
    $input.focus();
  });

  $input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey) return;
    // don't steal the Enter that confirms an IME (Chinese input) composition
    if (e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    sendInput();
  });

  $reset.addEventListener("click", resetSession);

  getSession(false).catch(() => showIdentity(null));
  renderWelcome();
})();
