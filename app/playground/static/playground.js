// The HairTryOn playground: a plain client of /api/v1, written to be read as the client
// contract (SPEC: "the web app calls /api/v1 with fetch(..., {credentials: "include"}), never
// sends an Authorization header, and on any 401 calls POST /api/v1/auth/refresh once and
// retries"). CSRF needs nothing from the page: the browser sends Origin on every POST and the
// API checks it against its own origins.
"use strict";

const API = "/api/v1";
// The web app polls a generation every 3 s; so does this page.
const POLL_MS = 3000;
const DONE = new Set(["completed", "failed"]);
const VIEWS_RUNNING = new Set(["pending", "processing"]);
// The pending code handle outlives a tab: the code link in /dev/mail opens a new one.
const PENDING_KEY = "hairtryon.pending-code";
// What was on show when the buyer left for the checkout, to put back on their return.
const SHOWING_KEY = "hairtryon.showing";

const $ = (id) => document.getElementById(id);
// The photo checks' refusals (422 from POST /image/generate, or GET /files/check's code).
const PHOTO_CODES = new Set([
  "NO_FACE_DETECTED",
  "MULTIPLE_FACES",
  "FACE_TOO_SMALL",
  "PHOTO_TOO_DARK",
  "PHOTO_TOO_BLURRY",
]);
// "As in the photo": with a reference, no hair_color at all means the reference's colour.
const FROM_PHOTO = "";

const state = {
  user: null,
  catalogue: [], // every active style, for names, tags and the teaser
  styles: [], // the styles the filters show
  category: "all",
  facets: { gender: "", length: "", tag: "" },
  stylesAsked: 0, // the newest filter request: an older answer arriving late is dropped
  styleId: null,
  colors: [],
  color: "keep",
  reference: null, // {file_url, key, preview, problem}: a haircut photo instead of a style
  selfie: null, // {file_url, key, preview, problem}
  image: null, // the image on show: the status body
  historyPage: 1,
  stream: null,
  // The share link made on this page, per image: {url, expires_at}. The API hands a link out
  // once (only its hash is stored), so a reload forgets it; sharing again makes a new one.
  shares: new Map(),
};

// ---------------------------------------------------------------- the API, as the web app calls it

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let refreshing = null; // one refresh at a time, however many calls got a 401 together

function refreshOnce() {
  if (!refreshing) {
    refreshing = call("POST", "/auth/refresh", undefined, { retry: false }).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function send(method, path, body, { retry = true, headers = {} } = {}) {
  const init = {
    method,
    credentials: "include",
    headers: { Accept: "application/json", ...headers },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  log(method, path, response.status);
  if (response.status === 401 && retry) {
    // The access cookie expired (or was revoked): rotate the refresh token, then retry once.
    await refreshOnce();
    return send(method, path, body, { retry: false, headers });
  }
  return response;
}

async function refused(response) {
  const data = await response.json().catch(() => null);
  const detail = data && data.detail;
  if (Array.isArray(detail)) {
    // Request validation keeps FastAPI's list form.
    return new ApiError(response.status, "VALIDATION", detail.map((d) => d.msg).join("; "));
  }
  return new ApiError(
    response.status,
    (detail && detail.code) || "HTTP_" + response.status,
    (detail && detail.message) || response.statusText,
  );
}

// A JSON call: the body, null for a 204, or an ApiError with the API's code and message.
async function call(method, path, body, options) {
  const response = await send(method, path, body, options);
  if (!response.ok) throw await refused(response);
  if (response.status === 204) return null;
  return response.json().catch(() => null);
}

function log(method, path, status, where = API) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${method} ${where}${path} → ${status}`;
  item.className = status >= 400 ? "bad" : "";
  $("log").prepend(item);
  while ($("log").children.length > 80) $("log").lastChild.remove();
}

// ---------------------------------------------------------------- small page helpers

function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

function fail(error) {
  const text = error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
  notice(text, "error");
}

function busy(button, on) {
  button.disabled = on;
  button.classList.toggle("loading", on);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- signing up and in

function showTab(name) {
  $("tab-signup").classList.toggle("active", name === "signup");
  $("tab-login").classList.toggle("active", name === "login");
  $("signup-form").hidden = name !== "signup";
  $("login-form").hidden = name !== "login";
  $("code-form").hidden = true;
}

function pending() {
  try {
    return JSON.parse(localStorage.getItem(PENDING_KEY) || "null");
  } catch {
    return null;
  }
}

function askForCode(kind, token, email) {
  localStorage.setItem(PENDING_KEY, JSON.stringify({ kind, token, email }));
  showCodeForm();
}

function showCodeForm() {
  const waiting = pending();
  if (!waiting) return showTab("signup");
  $("signup-form").hidden = true;
  $("login-form").hidden = true;
  $("code-form").hidden = false;
  $("code-email").textContent = waiting.email;
  $("code").focus();
}

async function signUp(event) {
  event.preventDefault();
  const button = event.submitter || event.target.querySelector("button");
  busy(button, true);
  try {
    const email = $("signup-email").value.trim();
    // 200 {id, email, name, verified: false, verify_token}; a code is emailed.
    const body = await call("POST", "/auth/signup", {
      name: $("signup-name").value.trim(),
      email,
      password: $("signup-password").value,
    });
    notice("");
    askForCode("signup", body.verify_token, email);
  } catch (error) {
    fail(error);
  } finally {
    busy(button, false);
  }
}

async function logIn(event) {
  event.preventDefault();
  const button = event.submitter || event.target.querySelector("button");
  busy(button, true);
  try {
    const email = $("login-email").value.trim();
    // 200 {token}: the password was right and a login code is emailed.
    const body = await call("POST", "/auth/request-login-token", {
      email,
      password: $("login-password").value,
    });
    notice("");
    askForCode("login", body.token, email);
  } catch (error) {
    fail(error);
  } finally {
    busy(button, false);
  }
}

async function verify(event) {
  event.preventDefault();
  const waiting = pending();
  if (!waiting) return showTab("signup");
  busy($("verify"), true);
  try {
    // 200 {verified: true} and the access_token / refresh_token cookies.
    const path = waiting.kind === "signup" ? "/auth/verify-signup" : "/auth/verify-login";
    await call("POST", path, { token: waiting.token, code: $("code").value.trim() });
    localStorage.removeItem(PENDING_KEY);
    $("code").value = "";
    notice("");
    await signedIn();
  } catch (error) {
    fail(error);
  } finally {
    busy($("verify"), false);
  }
}

async function resend() {
  const waiting = pending();
  if (!waiting) return;
  try {
    if (waiting.kind === "signup") {
      const body = await call("POST", "/auth/request-signup-token", { email: waiting.email });
      askForCode("signup", body.token, waiting.email);
      notice("A new code is on its way.");
    } else {
      localStorage.removeItem(PENDING_KEY);
      showTab("login");
      notice("Enter your password again for a new login code.");
    }
  } catch (error) {
    fail(error);
  }
}

async function logOut() {
  try {
    await call("POST", "/auth/logout", undefined, { retry: false });
  } catch (error) {
    // Signed out either way: the cookies are cleared or were already gone.
  }
  state.user = null;
  render();
}

// ---------------------------------------------------------------- the signed-in page

async function signedIn() {
  // {id, name, email, userpic, credits, verified, created_at}
  state.user = await call("GET", "/user/me");
  render();
  await Promise.all([
    loadColors().catch(fail),
    loadUploads(),
    loadHistory(true),
    loadCredits(),
    loadPrice(),
    loadPrivacy(),
  ]);
  await returnedFromCheckout();
}

function render() {
  const signed = Boolean(state.user);
  $("auth").hidden = signed;
  $("studio").hidden = !signed;
  $("account").hidden = !signed;
  if (signed) {
    $("who").textContent = state.user.email;
    showBalance(state.user.credits);
  } else if (pending()) {
    showCodeForm();
  } else {
    showTab("signup");
  }
}

function showBalance(credits) {
  $("balance").textContent = credits;
  $("balance-big").textContent = credits;
}

// ---------------------------------------------------------------- selfie: file or camera

async function upload(blob, name) {
  // 1. A presigned POST policy (S3's, or this server's own with local storage).
  const presign = await call(
    "GET",
    `/files/presign?file_name=${encodeURIComponent(name)}&file_type=${encodeURIComponent(blob.type)}`,
  );
  // 2. The form goes straight to storage: every field of `fields`, then `file` last.
  const form = new FormData();
  for (const [key, value] of Object.entries(presign.fields)) form.append(key, value);
  form.append("file", blob, name);
  // Storage checks the signed policy, not our cookies: none are sent (S3 is another origin).
  const response = await fetch(presign.upload_url, {
    method: "POST",
    body: form,
    credentials: "omit",
  });
  log("POST", `${presign.upload_url} (storage)`, response.status, "");
  if (!response.ok) {
    // S3's XML error shape: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>
    const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
    const code = xml.querySelector("Code")?.textContent || "UPLOAD_FAILED";
    const message = xml.querySelector("Message")?.textContent || "The upload was refused.";
    throw new ApiError(response.status, code, message);
  }
  return { file_url: presign.file_url, key: presign.key };
}

function chooseSelfie(selfie, preview) {
  state.selfie = { ...selfie, preview: preview || selfie.file_url, problem: null };
  $("selfie").src = state.selfie.preview;
  $("selfie").hidden = false;
  $("selfie-empty").hidden = true;
  for (const thumb of $("uploads").children) {
    thumb.classList.toggle("chosen", thumb.dataset.url === selfie.file_url);
  }
  showCheck($("photo-check"), null);
  updateGenerate();
  // Only a fresh upload has its key here; an earlier one is checked when it is generated from.
  if (selfie.key) checkSelfie(state.selfie);
}

async function checkPhoto(key, purpose) {
  // {ok, code, message}: what POST /image/generate would answer, free and before any charge.
  return call(
    "GET",
    `/files/check?key=${encodeURIComponent(key)}&purpose=${encodeURIComponent(purpose)}`,
  );
}

async function checkSelfie(selfie) {
  showCheck($("photo-check"), { pending: true });
  try {
    const verdict = await checkPhoto(selfie.key, "selfie");
    if (state.selfie !== selfie) return; // another photo was picked meanwhile
    selfie.problem = verdict.ok ? null : verdict;
    selfie.passed = verdict.ok;
    showCheck($("photo-check"), verdict);
  } catch (error) {
    if (state.selfie !== selfie) return;
    showCheck($("photo-check"), { ok: false, code: error.code, message: error.message });
  }
  updateGenerate();
}

function showCheck(box, verdict) {
  box.hidden = !verdict;
  if (!verdict) return;
  box.className = `photo-check${verdict.pending ? "" : verdict.ok ? " ok" : " bad"}`;
  box.dataset.code = verdict.code || "";
  if (verdict.pending) box.textContent = "Checking the photo…";
  else if (verdict.ok) box.textContent = "✓ This photo works: go on and pick a style.";
  else box.textContent = `✗ ${verdict.message} (${verdict.code})`;
}

async function fileChosen() {
  const file = $("file").files[0];
  if (!file) return;
  notice("Uploading your photo…");
  try {
    const selfie = await upload(file, file.name);
    chooseSelfie(selfie, URL.createObjectURL(file));
    notice("");
    loadUploads();
  } catch (error) {
    fail(error);
  } finally {
    $("file").value = "";
  }
}

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return notice("This browser gives no camera here (it needs localhost or https).", "error");
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: 1280 },
    });
    $("camera").srcObject = state.stream;
    $("camera").hidden = false;
    $("camera-shoot").hidden = false;
  } catch (error) {
    notice(`No camera: ${error.message}`, "error");
  }
}

async function shoot() {
  const video = $("camera");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  state.stream?.getTracks().forEach((track) => track.stop());
  video.hidden = true;
  $("camera-shoot").hidden = true;
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  try {
    chooseSelfie(await upload(blob, "camera.jpg"), URL.createObjectURL(blob));
    loadUploads();
  } catch (error) {
    fail(error);
  }
}

async function loadUploads() {
  // Up to 5 distinct input image URLs, newest first.
  const urls = await call("GET", "/user/uploads").catch(() => []);
  $("uploads").replaceChildren(
    ...urls.map((url) => {
      const thumb = el("img", { src: url, alt: "An earlier photo", class: "upload" });
      thumb.dataset.url = url;
      thumb.addEventListener("click", () => chooseSelfie({ file_url: url }));
      return thumb;
    }),
  );
}

// ---------------------------------------------------------------- the catalogue

async function loadStyles() {
  // Public: [{id, name, category, image_url, description, gender, length, tags}] in order.
  state.catalogue = await call("GET", "/image/styles");
  state.styles = state.catalogue;
  const categories = ["all", ...new Set(state.catalogue.map((style) => style.category))];
  $("filters").replaceChildren(
    ...categories.map((category) =>
      el(
        "button",
        {
          type: "button",
          class: `chip${category === state.category ? " active" : ""}`,
          onclick: () => {
            state.category = category;
            filterStyles();
          },
        },
        category === "all" ? "All" : category[0].toUpperCase() + category.slice(1),
      ),
    ),
  );
  const tags = [...new Set(state.catalogue.flatMap((style) => style.tags))].sort();
  $("facet-tag").replaceChildren(
    el("option", { value: "" }, "any"),
    ...tags.map((tag) => el("option", { value: tag }, tag)),
  );
  loadStylesView();
  $("teaser").replaceChildren(
    ...state.catalogue.slice(0, 8).map((style) =>
      el("img", { src: style.image_url, alt: "", title: style.name }),
    ),
  );
}

async function filterStyles() {
  for (const facet of ["gender", "length", "tag"]) state.facets[facet] = $(`facet-${facet}`).value;
  const query = new URLSearchParams();
  for (const [facet, value] of Object.entries(state.facets)) if (value) query.set(facet, value);
  if (state.category !== "all") query.set("category", state.category);
  const asked = ++state.stylesAsked;
  try {
    // The API filters (every given facet must match; unisex styles under gender=unisex).
    const asking = query.toString();
    const styles = asking ? await call("GET", `/image/styles?${asking}`) : state.catalogue;
    if (asked !== state.stylesAsked) return;
    state.styles = styles;
    loadStylesView();
  } catch (error) {
    fail(error);
  }
}

function loadStylesView() {
  for (const chip of $("filters").children) {
    chip.classList.toggle("active", chip.textContent.toLowerCase() === state.category);
  }
  const shown = state.styles;
  $("styles-empty").hidden = shown.length > 0;
  $("styles").classList.toggle("off", Boolean(state.reference));
  $("styles").replaceChildren(
    ...shown.map((style) =>
      el(
        "button",
        {
          type: "button",
          class: `style${style.id === state.styleId ? " chosen" : ""}`,
          "data-style-id": String(style.id),
          "data-gender": style.gender,
          "data-length": style.length,
          "data-tags": style.tags.join(","),
          title: `${style.description} (${style.gender}, ${style.length}` +
            `${style.tags.length ? "; " + style.tags.join(", ") : ""})`,
          onclick: () => {
            if (state.reference) clearReference();
            state.styleId = style.id;
            loadStylesView();
            updateGenerate();
          },
        },
        el("img", { src: style.image_url, alt: style.name, loading: "lazy" }),
        el("span", { class: "name" }, style.name),
        el("span", { class: "desc" }, style.description),
      ),
    ),
  );
}

// ---------------------------------------------------------------- a haircut from a photo

async function referenceChosen() {
  const file = $("reference-file").files[0];
  if (!file) return;
  notice("Uploading your haircut photo…");
  try {
    const uploaded = await upload(file, file.name);
    const reference = { ...uploaded, preview: URL.createObjectURL(file), problem: null };
    showReference(reference);
    notice("");
    // A haircut photo needs no face: only light and sharpness are checked.
    showCheck($("reference-check"), { pending: true });
    const verdict = await checkPhoto(uploaded.key, "reference");
    if (state.reference !== reference) return;
    reference.problem = verdict.ok ? null : verdict;
    showCheck($("reference-check"), verdict);
    if (verdict.ok) $("reference-check").textContent = "✓ We will copy this haircut.";
  } catch (error) {
    fail(error);
  } finally {
    $("reference-file").value = "";
    updateGenerate();
  }
}

function showReference(reference) {
  state.reference = reference;
  state.styleId = null;
  if (state.color === "keep") state.color = FROM_PHOTO;
  $("reference").src = reference.preview;
  $("reference-box").hidden = false;
  $("reference-pick").hidden = true;
  showCheck($("reference-check"), null);
  showColors();
  loadStylesView();
  updateGenerate();
}

function clearReference() {
  state.reference = null;
  if (state.color === FROM_PHOTO) state.color = "keep";
  $("reference-box").hidden = true;
  $("reference-pick").hidden = false;
  $("reference").removeAttribute("src");
  showColors();
  loadStylesView();
  updateGenerate();
}

// ---------------------------------------------------------------- hair colour

async function loadColors() {
  // Public: [{id, name, hex}], "keep" (the person's own colour, hex null) first.
  state.colors = await call("GET", "/image/colors");
  showColors();
}

function showColors() {
  const choices = [
    ...(state.reference ? [{ id: FROM_PHOTO, name: "As in the haircut photo", hex: null }] : []),
    ...state.colors,
  ];
  $("swatches").replaceChildren(
    ...choices.map((colour) => {
      const kind = colour.id === FROM_PHOTO ? " photo" : colour.hex ? "" : " keep";
      const swatch = el("button", {
        type: "button",
        role: "radio",
        class: `swatch${kind}${colour.id === state.color ? " chosen" : ""}`,
        title: colour.name,
        "aria-label": colour.name,
        "aria-checked": String(colour.id === state.color),
        "data-color": colour.id,
        onclick: () => {
          state.color = colour.id;
          showColors();
        },
      });
      // Through the CSSOM: the page's policy allows no inline style attribute.
      if (colour.hex) swatch.style.setProperty("--swatch", colour.hex);
      return swatch;
    }),
  );
  $("colour-name").textContent = colourName();
}

function colourName() {
  if (state.color === FROM_PHOTO) return "As in the haircut photo";
  return state.colors.find((colour) => colour.id === state.color)?.name || "Your own colour";
}

function updateGenerate() {
  const look = state.reference || state.styleId;
  const refused = state.selfie?.problem || state.reference?.problem;
  $("generate").disabled = !(state.selfie && look) || Boolean(refused);
  if (state.selfie && look && !state.image) {
    $("status").textContent = refused ? "Choose another photo." : "Ready.";
  }
}

// ---------------------------------------------------------------- generating and polling

async function generate() {
  busy($("generate"), true);
  notice("");
  try {
    // 1 credit taken when the job is accepted, given back if it fails. The Idempotency-Key
    // makes a retried click charge once.
    // A style or a haircut photo (exactly one); hair_color left out means the default: "keep"
    // with a style, the photo's own colour with a reference.
    const body = { image_input_url: state.selfie.file_url };
    if (state.reference) body.reference_image_url = state.reference.key;
    else body.style_id = state.styleId;
    if (state.color !== FROM_PHOTO) body.hair_color = state.color;
    const started = await callWithKey("/image/generate", body);
    await refreshBalance();
    const style = state.catalogue.find((item) => item.id === state.styleId);
    const name = state.reference ? "Haircut from a photo" : style?.name;
    const colour = state.color === "keep" || state.color === FROM_PHOTO ? "" : ` · ${colourName()}`;
    showResult({ id: started.image_id, status: "pending", views_status: "none" }, name + colour);
    await poll(started.image_id, (body) => !DONE.has(body.status));
    loadHistory(true);
  } catch (error) {
    if (PHOTO_CODES.has(error.code) && state.selfie) {
      // Refused before any charge: say why next to the photo too. The same codes answer for
      // a haircut photo (light, sharpness); it is that one when the selfie passed already.
      const reference = state.reference && state.selfie.passed;
      const photo = reference ? state.reference : state.selfie;
      photo.problem = { ok: false, code: error.code, message: error.message };
      showCheck($(reference ? "reference-check" : "photo-check"), photo.problem);
    }
    fail(error);
  } finally {
    busy($("generate"), false);
    updateGenerate();
  }
}

function callWithKey(path, body) {
  // The same key on the retry after a refresh: the server answers the first result again.
  const key = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
  return call("POST", path, body, { headers: { "Idempotency-Key": key } });
}

async function poll(imageId, running) {
  for (;;) {
    // {id, status, views_status, description, output_image_url, right/left/back_view_url, error}
    const body = await call("GET", `/image/status/${imageId}`);
    showResult(body);
    if (!running(body)) return body;
    await sleep(POLL_MS);
  }
}

function showResult(body, styleName) {
  state.image = { ...(state.image?.id === body.id ? state.image : {}), ...body };
  if (styleName) state.image.style_name = styleName;
  const image = state.image;
  const label = {
    pending: "Queued…",
    processing: "Working on it…",
    completed: "Done.",
    failed: `Failed: ${image.error?.message || "the credit was given back."}`,
  }[image.status];
  $("status").textContent = `#${image.id} · ${image.status}${label ? " — " + label : ""}`;
  $("status").className = `status ${image.status}`;
  $("result").hidden = false;
  if (image.input_image_url || state.selfie) {
    $("before").src = image.input_image_url || state.selfie.preview;
  }
  $("after-caption").textContent = image.style_name ? `After · ${image.style_name}` : "After";
  if (image.output_image_url && $("after").dataset.url !== image.output_image_url) {
    $("after").dataset.url = image.output_image_url;
    $("after").src = image.output_image_url;
  }
  $("after").classList.toggle("waiting", !image.output_image_url);
  const finished = Boolean(image.output_image_url);
  $("result-actions").hidden = !finished;
  const hasViews = image.views_status && image.views_status !== "none";
  $("views").disabled = hasViews;
  $("views-status").textContent = hasViews ? `Side views: ${image.views_status}` : "";
  $("side-views").hidden = !hasViews;
  for (const side of ["left", "right", "back"]) {
    const url = image[`${side}_view_url`];
    const img = $(`view-${side}`);
    if (url && img.dataset.url !== url) {
      img.dataset.url = url;
      img.src = url;
    }
    img.classList.toggle("waiting", !url);
  }
  $("like").classList.toggle("on", image.liked === true);
  $("share").hidden = !(finished && image.status === "completed");
  showShare();
}

async function sideViews() {
  busy($("views"), true);
  try {
    // Right, left and back at once: 3 credits, each failed view refunded. While they run the
    // image's status is `processing` and views_status tells their own state.
    await call("POST", "/image/view-generate", { image_id: state.image.id });
    await refreshBalance();
    showResult({ ...state.image, views_status: "pending" });
    await poll(
      state.image.id,
      (body) => VIEWS_RUNNING.has(body.views_status) || !DONE.has(body.status),
    );
    loadHistory(true);
  } catch (error) {
    fail(error);
  } finally {
    busy($("views"), false);
    await refreshBalance();
  }
}

async function like(liked) {
  try {
    await call("POST", `/image/${liked ? "like" : "dislike"}/${state.image.id}`);
    state.image.liked = liked;
    showResult(state.image);
    loadHistory(true);
  } catch (error) {
    fail(error);
  }
}

// ---------------------------------------------------------------- a share link for the hairdresser

async function createShare(event) {
  event.preventDefault();
  const image = state.image;
  if (!image) return;
  busy($("share-create"), true);
  try {
    // {url, expires_at}: a public page at /s/{token}; a new link replaces the earlier one.
    const link = await call("POST", `/image/${image.id}/share`, {
      expires_in_hours: Number($("share-hours").value),
    });
    state.shares.set(image.id, link);
    showShare();
    notice("");
  } catch (error) {
    fail(error);
  } finally {
    busy($("share-create"), false);
  }
}

function showShare() {
  const link = state.image && state.shares.get(state.image.id);
  $("share-link").hidden = !link;
  $("share-create").textContent = link ? "Make a new link" : "Create the link";
  if (!link) return;
  $("share-url").value = link.url;
  $("share-open").href = link.url;
  const until = new Date(link.expires_at);
  const hours = Math.max(0, Math.round((until - Date.now()) / 3_600_000));
  $("share-expiry").textContent = `Works until ${until.toLocaleString()} (${hours} h from now).`;
}

async function copyShare() {
  const url = $("share-url").value;
  try {
    await navigator.clipboard.writeText(url);
  } catch {
    // No clipboard permission (or not a secure context): copy the selected text instead.
    $("share-url").select();
    document.execCommand("copy");
  }
  $("share-copy").textContent = "Copied ✓";
  setTimeout(() => {
    $("share-copy").textContent = "Copy";
  }, 2000);
}

async function revokeShare() {
  const image = state.image;
  if (!image) return;
  busy($("share-revoke"), true);
  try {
    // 204 whether or not a link existed; the page at the old URL shows nothing any more.
    await call("DELETE", `/image/${image.id}/share`);
    state.shares.delete(image.id);
    showShare();
    notice("The link is revoked: it shows nothing any more.", "success");
  } catch (error) {
    fail(error);
  } finally {
    busy($("share-revoke"), false);
  }
}

// ---------------------------------------------------------------- privacy

async function loadPrivacy() {
  try {
    // {retention_days: 1..365 | null}; null keeps everything until the person deletes it.
    const body = await call("GET", "/user/privacy");
    showRetention(body.retention_days);
  } catch (error) {
    fail(error);
  }
}

function showRetention(days) {
  $("keep-forever").checked = days === null;
  $("keep-days").checked = days !== null;
  if (days !== null) $("retention-days").value = days;
  $("retention-days").disabled = days === null;
  $("retention-status").textContent =
    days === null
      ? "Now: kept until you delete them."
      : `Now: deleted automatically after ${days} day${days === 1 ? "" : "s"}.`;
}

async function saveRetention(event) {
  event.preventDefault();
  busy($("retention-save"), true);
  try {
    const forever = $("keep-forever").checked;
    const body = await call("PUT", "/user/privacy", {
      retention_days: forever ? null : Number($("retention-days").value),
    });
    showRetention(body.retention_days);
    notice("Saved.", "success");
  } catch (error) {
    fail(error);
  } finally {
    busy($("retention-save"), false);
  }
}

async function exportData() {
  busy($("export"), true);
  try {
    // A zip, streamed: the same cookie call (and the same refresh on a 401) as every other.
    const response = await send("GET", "/user/export", undefined, {
      headers: { Accept: "application/zip" },
    });
    if (!response.ok) throw await refused(response);
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "hairtryon-export.zip";
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    notice(`Your data is downloaded: ${name} (${Math.ceil(blob.size / 1024)} KB).`, "success");
  } catch (error) {
    fail(error);
  } finally {
    busy($("export"), false);
  }
}

function askDeleteAll(open) {
  $("delete-confirm").hidden = !open;
  $("delete-all").disabled = open;
  if (open) $("delete-no").focus();
}

async function deleteAll() {
  busy($("delete-yes"), true);
  try {
    // {images_deleted, uploads_deleted}: records now, files right after; the profile picture
    // stays, and so do the account and its credits.
    const body = await call("DELETE", "/user/images");
    askDeleteAll(false);
    forgetLooks();
    notice(
      `Deleted ${body.images_deleted} look${body.images_deleted === 1 ? "" : "s"} and ` +
        `${body.uploads_deleted} photo${body.uploads_deleted === 1 ? "" : "s"}.`,
      "success",
    );
    await Promise.all([loadUploads(), loadHistory(true)]);
  } catch (error) {
    fail(error);
  } finally {
    busy($("delete-yes"), false);
  }
}

function forgetLooks() {
  // Nothing on show may point at a deleted photo or look any more.
  state.image = null;
  state.selfie = null;
  state.shares.clear();
  if (state.reference) clearReference();
  for (const id of ["result", "result-actions", "side-views", "share", "selfie", "photo-check"]) {
    $(id).hidden = true;
  }
  $("selfie").removeAttribute("src");
  $("selfie-empty").hidden = false;
  $("status").textContent = "Pick a photo and a style.";
  $("status").className = "status muted";
  updateGenerate();
}

// ---------------------------------------------------------------- history and favourites

async function loadHistory(reset) {
  if (reset) state.historyPage = 1;
  const favourites = $("favourites").checked;
  try {
    // {images: [Image], page, limit, next_page, total_images}; favourites filters both.
    const body = await call(
      "GET",
      `/user/images?page=${state.historyPage}&limit=8&favourites=${favourites}&sort_desc=true`,
    );
    const cards = body.images.map((image) =>
      el(
        "button",
        {
          type: "button",
          class: `look ${image.status}`,
          title: `${image.style_name} · ${image.status}`,
          onclick: () => openLook(image),
        },
        image.output_image_url
          ? el("img", { src: image.output_image_url, alt: image.style_name, loading: "lazy" })
          : el("span", { class: "placeholder" }, image.status),
        el("span", { class: "name" }, `${image.liked ? "♥ " : ""}${image.style_name}`),
      ),
    );
    if (reset) $("history").replaceChildren(...cards);
    else $("history").append(...cards);
    const noun = favourites ? "favourite" : "look";
    const count = body.total_images;
    $("history-count").textContent = `${count} ${noun}${count === 1 ? "" : "s"}`;
    $("history-more").hidden = body.next_page === null;
    state.historyPage = body.next_page || state.historyPage;
  } catch (error) {
    fail(error);
  }
}

function openLook(image) {
  const views = image.side_views || {};
  state.image = null;
  showResult({ ...image, ...views });
  $("result").scrollIntoView({ behavior: "smooth", block: "center" });
  if (!DONE.has(image.status) || VIEWS_RUNNING.has(image.views_status)) {
    poll(image.id, (body) => !DONE.has(body.status) || VIEWS_RUNNING.has(body.views_status));
  }
}

// ---------------------------------------------------------------- credits and buying

async function refreshBalance() {
  const credits = await call("GET", "/user/credits").catch(() => null);
  if (credits !== null) showBalance(credits);
  loadLedger();
}

async function loadCredits() {
  await refreshBalance();
}

async function loadLedger() {
  const body = await call("GET", "/user/credits/history?limit=5").catch(() => null);
  if (!body) return;
  $("ledger").replaceChildren(
    ...body.entries.map((entry) =>
      el(
        "li",
        {},
        el("span", { class: entry.delta > 0 ? "plus" : "minus" }, (entry.delta > 0 ? "+" : "") + entry.delta),
        ` ${entry.reason.replace(/_/g, " ")} `,
        el("span", { class: "muted" }, `→ ${entry.balance_after}`),
      ),
    ),
  );
}

async function loadPrice() {
  try {
    // {product_id, price_minor, price, currency, tax_inclusive, min_quantity, max_quantity}
    const price = await call("GET", "/payments/pricing");
    $("price").textContent = `${price.price.toFixed(2)} ${price.currency} per credit${
      price.tax_inclusive ? "" : " + tax"
    }.`;
    $("quantity").min = price.min_quantity;
    $("quantity").max = price.max_quantity;
  } catch (error) {
    $("price").textContent =
      error.code === "PAYMENTS_NOT_CONFIGURED" ? "Buying is off on this server." : "";
    $("buy").disabled = error.code === "PAYMENTS_NOT_CONFIGURED";
  }
}

async function buy(event) {
  event.preventDefault();
  busy($("buy"), true);
  try {
    // {session_id, checkout_url}: the buyer goes to the provider's page. Credits arrive with
    // the provider's webhook; the return page asks GET /payments/transaction/{payment_id}.
    const body = await call("POST", "/payments/checkout", {
      quantity: Number($("quantity").value),
    });
    const url = new URL(body.checkout_url);
    // The local test checkout can send the buyer back here instead of PAYMENT_RETURN_URL.
    if (url.origin === location.origin) url.searchParams.set("return", "/");
    sessionStorage.setItem(
      SHOWING_KEY,
      JSON.stringify({
        selfie: state.selfie,
        styleId: state.styleId,
        color: state.color,
        reference: state.reference && { file_url: state.reference.file_url, key: state.reference.key },
        imageId: state.image?.id,
        styleName: state.image?.style_name,
      }),
    );
    location.assign(url.toString());
  } catch (error) {
    fail(error);
    busy($("buy"), false);
  }
}

async function restoreShowing() {
  const saved = JSON.parse(sessionStorage.getItem(SHOWING_KEY) || "null");
  sessionStorage.removeItem(SHOWING_KEY);
  if (!saved) return;
  if (saved.selfie?.file_url) chooseSelfie({ ...saved.selfie, preview: saved.selfie.file_url });
  if (saved.styleId) {
    state.styleId = saved.styleId;
    loadStylesView();
    updateGenerate();
  }
  if (saved.reference?.key) showReference({ ...saved.reference, preview: saved.reference.file_url });
  if (typeof saved.color === "string") {
    state.color = saved.color;
    showColors();
  }
  if (saved.imageId) {
    const body = await call("GET", `/image/status/${saved.imageId}`).catch(() => null);
    if (body) showResult(body, saved.styleName);
  }
}

async function returnedFromCheckout() {
  const query = new URLSearchParams(location.search);
  const paymentId = query.get("payment_id");
  if (!paymentId) return;
  history.replaceState(null, "", "/");
  await restoreShowing();
  try {
    // Answers at once even if the webhook is late: the server asks the provider.
    const transaction = await call("GET", `/payments/transaction/${encodeURIComponent(paymentId)}`);
    if (transaction.status === "succeeded") {
      notice(`Payment succeeded: +${transaction.credits_added} credits.`, "success");
    } else {
      notice(`Payment ${transaction.status}: no credits were added.`, "error");
    }
  } catch (error) {
    fail(error);
  }
  await refreshBalance();
  $("buy-card").scrollIntoView({ block: "center" });
}

// ---------------------------------------------------------------- start

function codeFromMail() {
  // /dev/mail links codes to /?code=123456.
  const query = new URLSearchParams(location.search);
  const code = query.get("code");
  if (code && /^\d{6}$/.test(code)) {
    history.replaceState(null, "", "/");
    return code;
  }
  return null;
}

async function start() {
  $("tab-signup").addEventListener("click", () => showTab("signup"));
  $("tab-login").addEventListener("click", () => showTab("login"));
  $("signup-form").addEventListener("submit", signUp);
  $("login-form").addEventListener("submit", logIn);
  $("code-form").addEventListener("submit", verify);
  $("resend").addEventListener("click", resend);
  $("code-cancel").addEventListener("click", () => {
    localStorage.removeItem(PENDING_KEY);
    showTab("signup");
  });
  $("logout").addEventListener("click", logOut);
  $("file").addEventListener("change", fileChosen);
  $("camera-start").addEventListener("click", startCamera);
  $("camera-shoot").addEventListener("click", shoot);
  $("generate").addEventListener("click", generate);
  $("views").addEventListener("click", sideViews);
  $("like").addEventListener("click", () => like(true));
  $("dislike").addEventListener("click", () => like(false));
  $("favourites").addEventListener("change", () => loadHistory(true));
  $("history-more").addEventListener("click", () => loadHistory(false));
  $("buy-form").addEventListener("submit", buy);
  for (const facet of ["gender", "length", "tag"]) {
    $(`facet-${facet}`).addEventListener("change", filterStyles);
  }
  $("reference-file").addEventListener("change", referenceChosen);
  $("reference-clear").addEventListener("click", clearReference);
  $("share-form").addEventListener("submit", createShare);
  $("share-copy").addEventListener("click", copyShare);
  $("share-revoke").addEventListener("click", revokeShare);
  $("retention-form").addEventListener("submit", saveRetention);
  for (const radio of ["keep-forever", "keep-days"]) {
    $(radio).addEventListener("change", () => {
      $("retention-days").disabled = $("keep-forever").checked;
    });
  }
  $("export").addEventListener("click", exportData);
  $("delete-all").addEventListener("click", () => askDeleteAll(true));
  $("delete-no").addEventListener("click", () => askDeleteAll(false));
  $("delete-yes").addEventListener("click", deleteAll);

  const code = codeFromMail();
  loadStyles().catch(fail);
  try {
    // 400 NO_COOKIES_FOUND: anonymous, no refresh needed (that is what the code is for);
    // 401: the access cookie expired, and call() refreshes and retries once.
    await signedIn();
  } catch (error) {
    state.user = null;
    render();
    if (code && pending()) {
      $("code").value = code;
      notice("Code filled in from Dev mail: press Verify.");
    }
  }
  document.body.dataset.ready = "true";
}

start();
