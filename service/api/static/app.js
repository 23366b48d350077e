// Passerelle search page: talks to this service's own API only (/v1/indexes, /v1/search, /v1/documents).
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const form = $("#search-form");
  const queryInput = $("#q");
  const searchButton = $("#search-button");
  const fusionField = $("#fusion-field");
  const langsBox = $("#langs");
  const langField = $("#lang-field");
  const filterField = $("#filter-field");
  const filtersBox = $("#filters");
  const pager = $("#pager");
  const previousButton = $("#previous-page");
  const nextButton = $("#next-page");
  const pageWhere = $("#page-where");
  const indexField = $("#index-field");
  const indexSelect = $("#index");
  const kSelect = $("#k");
  const errorBox = $("#error");
  const statusLine = $("#status");
  const resultsSection = $("#results-section");
  const resultsList = $("#results");
  const dialog = $("#doc-dialog");
  const docTitle = $("#doc-title");
  const docMeta = $("#doc-meta");
  const docBody = $("#doc-body");

  const languageNames = new Intl.DisplayNames(["en"], { type: "language" });
  let indexes = [];
  let searchController = null;
  let docController = null;
  let opener = null;
  let offset = 0; // the page shown starts after this many hits
  const HIT_FIELDS = ["lang", "title", "snippet", "sources", "metadata"];

  // --- small helpers --------------------------------------------------------------------------

  /** Build an element: el("a", {href: "/", class: "x"}, "text", otherNode). Text is never parsed as HTML. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function languageName(code) {
    try {
      const name = languageNames.of(code);
      return name && name !== code ? name : code.toUpperCase();
    } catch {
      return code.toUpperCase();
    }
  }

  const badge = (code) => el("span", { class: "badge", "data-lang": code, title: languageName(code) }, code);

  function formatScore(value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    const size = Math.abs(value);
    if (size === 0) return "0";
    if (size >= 100) return value.toFixed(1);
    return value.toPrecision(3);
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  // --- reading and writing the form -------------------------------------------------------------

  const checked = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value;

  function selectedLanguages() {
    return [...langsBox.querySelectorAll("input:checked")].map((input) => input.value);
  }

  function currentIndex() {
    return indexField.hidden ? null : indexSelect.value || null;
  }

  /** The filter the inputs describe ({"year": {"gte": 2015}, "topic": ["a", "b"]}), or null when all are blank. */
  function filterBody() {
    const filter = {};
    for (const input of filtersBox.querySelectorAll("[data-field]")) {
      const { field, type, op } = input.dataset;
      const raw = input.value.trim();
      if (!raw) continue;
      if (type === "keyword") {
        const values = raw.split(",").map((value) => value.trim()).filter(Boolean);
        if (values.length) filter[field] = values;
      } else if (type === "bool") {
        filter[field] = raw === "true";
      } else {
        const value = type === "date" ? raw : Number(raw);
        filter[field] = { ...(filter[field] || {}), [op]: value };
      }
    }
    return Object.keys(filter).length ? filter : null;
  }

  function requestBody() {
    const langs = selectedLanguages();
    const body = {
      query: queryInput.value,
      mode: checked("mode"),
      fusion: checked("fusion"),
      k: Number(kSelect.value),
      doc_langs: langs.length ? langs : null,
      explain: true,
      fields: HIT_FIELDS,
    };
    const filter = filterBody();
    if (filter) body.filter = filter;
    if (offset) body.offset = offset;
    const index = currentIndex();
    if (index) body.index = index;
    return body;
  }

  function syncFusion() {
    fusionField.disabled = checked("mode") !== "hybrid";
  }

  /** Keep the URL shareable: /?q=...&mode=...; read back on load. */
  function writeUrl(body) {
    const params = new URLSearchParams({ q: body.query, mode: body.mode });
    if (body.mode === "hybrid") params.set("fusion", body.fusion);
    if (body.doc_langs) params.set("langs", body.doc_langs.join(","));
    if (body.k !== 10) params.set("k", String(body.k));
    if (body.filter) params.set("filter", JSON.stringify(body.filter));
    if (body.offset) params.set("offset", String(body.offset));
    if (body.index) params.set("index", body.index);
    history.replaceState(null, "", `/?${params}`);
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    const pick = (name, value) => {
      const input = form.querySelector(`input[name="${name}"][value="${CSS.escape(value || "")}"]`);
      if (input) input.checked = true;
    };
    pick("mode", params.get("mode"));
    pick("fusion", params.get("fusion"));
    const k = params.get("k");
    if (k && [...kSelect.options].some((option) => option.value === k)) kSelect.value = k;
    offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
    return params;
  }

  // --- errors ---------------------------------------------------------------------------------

  const TITLES = {
    400: "The request was malformed",
    404: "Not found",
    422: "The search request was not accepted",
    500: "The service failed to answer",
    503: "The service is busy or still loading",
  };

  function fieldOf(loc) {
    const parts = Array.isArray(loc) ? loc.slice(loc[0] === "body" ? 1 : 0) : [];
    return parts.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i ? "." : ""}${part}`)).join("");
  }

  /** Turn a non-2xx response into {title, items}; the API answers {"error": type, "detail": ...}. */
  async function describeFailure(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const title = `${TITLES[response.status] || "The request failed"} (HTTP ${response.status})`;
    const items = [];
    if (body && Array.isArray(body.detail)) {
      for (const entry of body.detail) {
        const message = String(entry.msg || "invalid value").replace(/^Value error, /, "");
        const field = fieldOf(entry.loc);
        items.push(field ? [el("code", {}, field), `: ${message}`] : [message]);
      }
    } else if (body && body.detail) {
      items.push([String(body.detail)]);
    } else {
      items.push([response.statusText || "no details were given"]);
    }
    const retry = response.headers.get("Retry-After");
    if (response.status === 503 && retry) items.push([`Try again in ${retry} s.`]);
    return { title, items };
  }

  function renderError(box, { title, items }) {
    box.replaceChildren(
      el("strong", {}, title),
      items.length === 1 ? el("p", {}, items[0]) : el("ul", {}, items.map((item) => el("li", {}, item))),
    );
    box.hidden = false;
  }

  function networkFailure(error) {
    return { title: "Could not reach the Passerelle service", items: [[String(error.message || error)]] };
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  // --- indexes and languages ------------------------------------------------------------------

  function renderLanguages(index) {
    const previous = new Set(selectedLanguages());
    const fromUrl = new URLSearchParams(location.search).get("langs");
    const wanted = previous.size ? previous : new Set(fromUrl ? fromUrl.split(",") : []);
    const counts = (index && index.manifest && index.manifest.languages) || {};
    const codes = Object.keys(counts).sort();
    langsBox.replaceChildren(...codes.map((code) => {
      const id = `lang-${code}`;
      return [
        el("input", { type: "checkbox", id, name: "lang", value: code, checked: wanted.has(code) }),
        el("label", { for: id, title: `${plural(counts[code], "document")} in ${languageName(code)}` },
          el("span", { class: "code" }, code.toUpperCase()), ` ${languageName(code)}`),
      ];
    }).flat());
    langField.hidden = codes.length === 0;
    const info = index
      ? `Index ${index.name} · ${plural(index.manifest.doc_count ?? 0, "document")} · ${codes.join(", ")}`
      : "";
    $("#index-info").textContent = info;
  }

  // --- filters on the index's metadata fields ------------------------------------------------------

  /** The filter in the shared link, to fill the inputs the first time they are drawn. */
  function filterFromUrl() {
    try {
      return JSON.parse(new URLSearchParams(location.search).get("filter") || "null") || {};
    } catch {
      return {};
    }
  }

  function filterInput(field, type, op, label, value) {
    const id = `filter-${field}-${op}`;
    const attrs = { id, dataset: { field, type, op }, "aria-label": label, value: value ?? "" };
    if (type === "int" || type === "float") {
      return el("input", { ...attrs, type: "number", step: type === "int" ? "1" : "any", inputmode: "decimal" });
    }
    if (type === "date") return el("input", { ...attrs, type: "date" });
    return el("input", { ...attrs, type: "text", placeholder: "any", autocomplete: "off" });
  }

  /** One group of inputs per declared field: a from/to range for numbers and dates, a text box for
   * keywords (comma-separated: any of them), a choice for booleans. */
  function renderFilters(index) {
    const fields = (index && index.manifest && index.manifest.meta_fields) || [];
    const wanted = filtersBox.childElementCount ? filterBody() || {} : filterFromUrl();
    filtersBox.replaceChildren(...fields.map(({ name, type }) => {
      const current = wanted[name];
      const title = el("span", { class: "filter-name" }, name);
      if (type === "int" || type === "float" || type === "date") {
        const range = current && typeof current === "object" && !Array.isArray(current) ? current : {};
        return el("div", { class: "filter", dataset: { filter: name } }, title,
          filterInput(name, type, "gte", `${name} from`, range.gte),
          el("span", { class: "to", "aria-hidden": "true" }, "to"),
          filterInput(name, type, "lte", `${name} to`, range.lte));
      }
      if (type === "bool") {
        const select = el("select", { id: `filter-${name}`, dataset: { field: name, type, op: "eq" },
          "aria-label": name },
        el("option", { value: "" }, "any"), el("option", { value: "true" }, "yes"),
        el("option", { value: "false" }, "no"));
        if (typeof current === "boolean") select.value = String(current);
        return el("div", { class: "filter", dataset: { filter: name } }, title, select);
      }
      const values = Array.isArray(current) ? current.join(", ") : typeof current === "string" ? current : "";
      return el("div", { class: "filter", dataset: { filter: name } }, title,
        filterInput(name, "keyword", "in", name, values));
    }));
    filterField.hidden = fields.length === 0;
  }

  async function loadIndexes() {
    let response;
    try {
      response = await fetch("/v1/indexes", { headers: { Accept: "application/json" } });
    } catch (error) {
      renderError(errorBox, networkFailure(error));
      return;
    }
    if (!response.ok) {
      renderError(errorBox, await describeFailure(response));
      return;
    }
    indexes = (await response.json()).indexes || [];
    const wanted = new URLSearchParams(location.search).get("index");
    indexSelect.replaceChildren(...indexes.map((index) => el("option", { value: index.name }, index.name)));
    const initial = indexes.find((index) => index.name === wanted) || indexes.find((index) => index.default);
    if (initial) indexSelect.value = initial.name;
    indexField.hidden = indexes.length < 2;
    renderLanguages(initial || indexes[0]);
    renderFilters(initial || indexes[0]);
  }

  // --- search ---------------------------------------------------------------------------------

  function sourceOrder(a, b) {
    const rank = (name) => (name === "dense" ? 0 : 1);
    return rank(a) - rank(b) || a.localeCompare(b);
  }

  function renderSources(hit, fused) {
    const sources = hit.sources || {};
    const contributions = (hit.explanation && hit.explanation.contributions) || {};
    const names = Object.keys(sources).sort(sourceOrder);
    if (!names.length) return null;
    return el("ul", { class: "why", "aria-label": "Why this result" },
      el("li", { class: "why-label", "aria-hidden": "true" }, "found by"),
      names.map((name) => {
        const source = sources[name];
        const kind = name.split(":")[0];
        const adds = contributions[name];
        const label = kind === "dense"
          ? `${name}: rank ${source.rank} among the embedding neighbours, similarity ${formatScore(source.score)}`
          : `${name}: rank ${source.rank} in BM25 over the ${languageName(name.split(":")[1] || "")} view, `
            + `score ${formatScore(source.score)}`;
        return el("li", { class: `source ${kind}`, title: label, dataset: { source: name } },
          el("span", { class: "name" }, name),
          el("span", { class: "rank-of", dataset: { rank: source.rank } }, `#${source.rank}`),
          el("span", { class: "raw" }, formatScore(source.score)),
          fused && adds && typeof adds.value === "number"
            ? el("span", { class: "adds", title: "what this retriever adds to the fused score" },
              `+${formatScore(adds.value)}`)
            : null);
      }));
  }

  function documentHref(id) {
    const index = currentIndex();
    return `/v1/documents/${encodeURIComponent(id)}${index ? `?index=${encodeURIComponent(index)}` : ""}`;
  }

  function renderMetadata(hit) {
    const entries = Object.entries(hit.metadata || {});
    if (!entries.length) return null;
    return el("dl", { class: "meta", "aria-label": "Metadata" }, entries.map(([key, value]) =>
      el("div", {}, el("dt", {}, key),
        el("dd", {}, Array.isArray(value) ? value.join(", ") : String(value)))));
  }

  function renderHit(hit, position, fused) {
    const formula = hit.explanation && hit.explanation.formula;
    return el("li", { class: "hit", dataset: { docId: hit.id, lang: hit.lang } },
      el("span", { class: "rank", "aria-hidden": "true" }, String(position)),
      el("h3", { class: "hit-title", lang: hit.lang },
        el("a", { href: documentHref(hit.id), dataset: { docId: hit.id } }, hit.title || hit.id)),
      el("div", { class: "hit-side" },
        badge(hit.lang),
        el("span", { class: "score", title: formula ? `fused score = ${formula}` : "score" },
          "score ", el("b", {}, formatScore(hit.score)))),
      el("p", { class: "snippet", lang: hit.lang }, hit.snippet),
      renderMetadata(hit),
      renderSources(hit, fused));
  }

  function renderPager(response, shown) {
    const first = response.offset || 0;
    pager.hidden = first === 0 && !response.has_more;
    previousButton.disabled = first === 0;
    nextButton.disabled = !response.has_more;
    pageWhere.textContent = shown ? `results ${first + 1}–${first + shown}` : "";
  }

  function renderResults(response, body, elapsed) {
    const fused = response.mode === "hybrid";
    const hits = response.hits || [];
    const how = fused ? `hybrid (${{linear: "linear", rrf: "RRF"}[body.fusion] || "auto"})` : response.mode;
    const langs = body.doc_langs ? ` in ${body.doc_langs.map(languageName).join(", ")}` : "";
    const first = response.offset || 0;
    const count = first && hits.length ? `results ${first + 1}–${first + hits.length}` : plural(hits.length, "result");
    const matching = typeof response.filter_matches === "number"
      ? ` · ${plural(response.filter_matches, "document")} match the filters` : "";
    statusLine.replaceChildren(
      el("strong", {}, count), langs,
      ` for a question in ${languageName(response.query_lang)} · ${how} · ${Math.round(elapsed)} ms${matching}`);
    renderPager(response, hits.length);
    if (!hits.length) {
      resultsList.replaceChildren(el("li", { class: "empty" },
        "Nothing found. Try another mode, fewer language filters or other words."));
      return;
    }
    resultsList.replaceChildren(...hits.map((hit, i) => renderHit(hit, first + i + 1, fused)));
  }

  async function search() {
    const body = requestBody();
    clearError();
    if (searchController) searchController.abort();
    const controller = new AbortController();
    searchController = controller;
    searchButton.setAttribute("aria-busy", "true");
    resultsSection.setAttribute("aria-busy", "true");
    statusLine.textContent = "Searching…";
    const started = performance.now();
    try {
      const response = await fetch("/v1/search", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) {
        const failure = await describeFailure(response);
        if (controller !== searchController) return;
        renderError(errorBox, failure);
        statusLine.textContent = "";
        resultsList.replaceChildren();
        pager.hidden = true;
        return;
      }
      const payload = await response.json();
      if (controller !== searchController) return;
      renderResults(payload, body, performance.now() - started);
      writeUrl(body);
    } catch (error) {
      if (error.name === "AbortError") return;
      renderError(errorBox, networkFailure(error));
      statusLine.textContent = "";
    } finally {
      if (controller === searchController) {
        searchButton.removeAttribute("aria-busy");
        resultsSection.removeAttribute("aria-busy");
      }
    }
  }

  // --- document view --------------------------------------------------------------------------

  function textBlock(code, caption, text, original) {
    return el("section", { class: `doc-text${original ? " original" : ""}`, "aria-label": caption },
      el("h3", {}, badge(code), caption),
      el("p", { lang: code }, text));
  }

  function renderDocument(doc) {
    docTitle.textContent = doc.title || doc.id;
    docTitle.setAttribute("lang", doc.lang);
    docMeta.replaceChildren(badge(doc.lang), el("code", {}, doc.id), `· index ${doc.index}`);
    const blocks = [textBlock(doc.lang, `${languageName(doc.lang)} · original`, doc.text, true)];
    for (const [code, text] of Object.entries(doc.views || {}).sort()) {
      blocks.push(textBlock(code, `${languageName(code)} version`, text, false));
    }
    const metadata = Object.entries(doc.metadata || {});
    if (metadata.length) {
      blocks.push(el("section", { class: "doc-metadata", "aria-label": "Metadata" },
        el("dl", {}, metadata.map(([key, value]) => [
          el("dt", {}, key),
          el("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value)),
        ]))));
    }
    docBody.replaceChildren(...blocks);
  }

  async function openDocument(link) {
    opener = link;
    if (docController) docController.abort();
    const controller = new AbortController();
    docController = controller;
    docTitle.textContent = link.textContent;
    docMeta.replaceChildren(el("code", {}, link.dataset.docId));
    docBody.replaceChildren(el("p", { class: "status" }, "Loading the document…"));
    if (!dialog.open) dialog.showModal();
    try {
      const response = await fetch(link.getAttribute("href"), {
        headers: { Accept: "application/json" }, signal: controller.signal,
      });
      if (controller !== docController) return;
      if (!response.ok) {
        const box = el("div", { class: "error", role: "alert" });
        renderError(box, await describeFailure(response));
        docBody.replaceChildren(box);
        return;
      }
      renderDocument(await response.json());
    } catch (error) {
      if (error.name === "AbortError") return;
      const box = el("div", { class: "error", role: "alert" });
      renderError(box, networkFailure(error));
      docBody.replaceChildren(box);
    }
  }

  // --- wiring ---------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0; // a new search starts on its first page
    search();
  });

  form.addEventListener("change", (event) => {
    if (event.target === queryInput) return;
    if (event.target === indexSelect) {
      const index = indexes.find((item) => item.name === indexSelect.value);
      renderLanguages(index);
      filtersBox.replaceChildren(); // another index has other fields
      renderFilters(index);
    }
    syncFusion();
    offset = 0;
    if (queryInput.value.trim()) search();
  });

  function turnPage(step) {
    offset = Math.max(0, offset + step * Number(kSelect.value));
    search();
    resultsSection.focus();
  }

  previousButton.addEventListener("click", () => turnPage(-1));
  nextButton.addEventListener("click", () => turnPage(1));

  resultsList.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-doc-id]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    openDocument(link);
  });

  $("#doc-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  dialog.addEventListener("close", () => {
    if (docController) docController.abort();
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });

  const params = readUrl();
  syncFusion();
  loadIndexes().then(() => {
    const q = params.get("q");
    if (q) {
      queryInput.value = q;
      search();
    }
  });
})();
