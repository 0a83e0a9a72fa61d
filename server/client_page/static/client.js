// A browser participant of the platform, in plain JavaScript (no build step).
//
// Call order as PROTOCOL.md gives it: token -> register (+ keepalive) -> MQTT channel (SUBACK)
// -> join -> simpleView -> view the streams already published, publish our own -> follow
// ConferenceStreamPublished/Unpublished events. One RTCPeerConnection per stream; local ICE
// candidates trickle to add*IceCandidates as the browser finds them, then {candidate: ""}.
//
// For drivers (Playwright) and people alike: `window.auvious` holds the state, and
// `await window.auviousStats()` returns getStats figures and the frames read per stream.

import * as timecode from "./timecode.js";

const STREAM_KINDS = { MIC: ["audio"], CAM: ["video"], SCREEN: ["video"], MIC_AND_CAM: ["audio", "video"] };
const FRAME_RECORDS = 6000; // about 3 minutes of 30 fps per viewed stream
const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;

const state = {
  state: "idle", // idle -> joining -> joined -> left | failed
  userId: null,
  organization: null,
  endpointId: null,
  conferenceId: null,
  codec: null,
  published: new Map(), // streamId -> {pc, type, candidates}
  viewed: new Map(), // streamId -> {pc, viewerId, type, frames, startedAt, ...}
  errors: [],
  log: [],
};
window.auvious = state;

let token = null; // the token response; never logged or shown
let keepaliveTimer = null;
let refreshTimer = null;
let mqttClient = null;
let localStream = null;
let expectedVersion = null;
const earlyEvents = new Map();
let pendingEvents = [];
let catchingUp = false;

// --- small helpers ------------------------------------------------------------------------

function note(message) {
  const line = `${new Date().toISOString().slice(11, 23)} ${message}`;
  state.log.push(line);
  if (state.log.length > 500) state.log.shift();
  const log = document.getElementById("log");
  if (log) log.textContent = state.log.slice(-40).join("\n");
}

function fail(where, error) {
  const message = `${where}: ${error && error.message ? error.message : error}`;
  state.errors.push(message);
  note(`error ${message}`);
}

class ApiError extends Error {
  constructor(call, status, message) {
    super(`${call} failed with ${status}: ${message}`);
    this.status = status;
  }
}

async function api(method, path, body, { keepalive = false } = {}) {
  const call = `${method} ${path.split("?")[0]}`;
  const headers = { Authorization: `Bearer ${token.access_token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    credentials: "omit", // the token is the only credential: no cookies, no login prompts
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text);
      message = parsed.message || parsed.error_description || parsed.error || message;
    } catch (_) {
      /* not JSON: keep the text */
    }
    throw new ApiError(call, response.status, message);
  }
  return text ? JSON.parse(text) : null;
}

// --- login, registration, keepalive ---------------------------------------------------------

async function requestToken(form, basic) {
  const headers = { "Content-Type": "application/x-www-form-urlencoded" };
  if (basic) headers.Authorization = `Basic ${btoa(basic)}`;
  const response = await fetch("/security/oauth/token", {
    method: "POST",
    // A refused login answers 401 with a Basic challenge; without credentials the browser
    // hands the answer to us instead of opening its own login prompt.
    credentials: "omit",
    headers,
    body: new URLSearchParams(form).toString(),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError("POST /security/oauth/token", response.status, body.error_description || body.error || "");
  }
  return body;
}

let clientAuth = null; // HTTP Basic of the login, which the refresh grant authenticates with

let loginOptions = null; // what the user logged in with: a refused refresh logs in again

async function login(options) {
  loginOptions = options;
  if (options.ticket) {
    clientAuth = "customer:";
    token = await requestToken(
      { grant_type: "password", username: options.ticket, password: "" },
      clientAuth,
    );
  } else {
    clientAuth = `${options.clientId}:${options.clientSecret}`;
    token = await requestToken({
      grant_type: "client_credentials",
      client_id: options.clientId,
      client_secret: options.clientSecret,
    });
  }
  state.userId = token.sub;
  state.organization = token.organization;
  scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const seconds = Math.max(5, (token.expires_in || 300) - 40);
  refreshTimer = setTimeout(async () => {
    try {
      token = await requestToken(
        { grant_type: "refresh_token", refresh_token: token.refresh_token },
        clientAuth,
      );
      if (mqttClient) mqttClient.options.password = token.access_token; // used on reconnect
      scheduleRefresh();
    } catch (error) {
      fail("token refresh", error);
      logInAgain();
    }
  }, seconds * 1000);
}

// A refresh the platform refuses (its refresh token expired, or the platform lost it) is not
// the end: log in again with what the user gave, as the agent does, every 5 s until it works.
async function logInAgain() {
  try {
    await login(loginOptions); // schedules the next refresh
    if (mqttClient) mqttClient.options.password = token.access_token;
    note("logged in again after a failed token refresh");
  } catch (error) {
    fail("login after a failed refresh", error);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(logInAgain, 5000);
  }
}

async function register(keepAliveSeconds) {
  const result = await api("POST", "/rtc-api/users/endpoints/register", { keepAliveSeconds });
  state.endpointId = result.id;
  const every = Math.max(1, keepAliveSeconds - 5) * 1000;
  keepaliveTimer = setInterval(() => {
    api("POST", "/rtc-api/users/endpoints/keepalive", { userEndpointId: state.endpointId }).catch((error) =>
      fail("keepalive", error),
    );
  }, every);
}

// --- the event channel ------------------------------------------------------------------------

function connectChannel() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const topic = `user/${state.userId}/${state.endpointId}`;
  return new Promise((resolve, reject) => {
    mqttClient = window.mqtt.connect(`${scheme}://${location.host}/ws`, {
      protocolVersion: 4,
      clientId: `browser-${state.endpointId}`,
      username: state.userId,
      password: token.access_token,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10000,
    });
    let settled = false;
    mqttClient.on("connect", () => {
      // Subscribe on every connect: the session is clean, so the broker forgets it.
      mqttClient.subscribe(topic, { qos: 1 }, (error, granted) => {
        if (error || !granted || !granted.length || granted[0].qos > 2) {
          const problem = error || new Error(`subscription to ${topic} refused`);
          if (!settled) reject(problem);
          else fail("subscribe", problem);
          settled = true;
          return;
        }
        note(`channel subscribed`);
        if (settled && state.state === "joined" && !catchingUp) catchUp(); // a reconnect
        if (!settled) resolve();
        settled = true;
      });
    });
    mqttClient.on("error", (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      } else {
        fail("channel", error);
      }
    });
    mqttClient.on("message", (_topic, payload) => {
      let event;
      try {
        event = JSON.parse(new TextDecoder().decode(payload));
      } catch (error) {
        fail("event", error);
        return;
      }
      onEvent(event);
    });
  });
}

function onEvent(event) {
  if (!event || event.conferenceId !== state.conferenceId || typeof event.conferenceVersion !== "number") return;
  if (expectedVersion === null) {
    pendingEvents.push(event);
    return;
  }
  place(event);
}

/** Apply conference events in version order; a gap is filled from the events long-poll. */
function place(event) {
  if (event.conferenceVersion < expectedVersion) return; // already in our view
  earlyEvents.set(event.conferenceVersion, event);
  drain();
  if (earlyEvents.size && !catchingUp) catchUp();
}

function drain() {
  while (earlyEvents.has(expectedVersion)) {
    const next = earlyEvents.get(expectedVersion);
    earlyEvents.delete(expectedVersion);
    expectedVersion += 1;
    apply(next);
  }
}

/** Ask the events long-poll for what we lack: a gap, or anything missed while disconnected. */
async function catchUp() {
  catchingUp = true;
  try {
    do {
      const since = expectedVersion;
      const events = await api("GET", `/rtc-api/conferences/${state.conferenceId}/events?v=${since}`);
      for (const event of events) if (event.conferenceVersion >= expectedVersion) earlyEvents.set(event.conferenceVersion, event);
      drain();
      if (expectedVersion === since) break; // nothing new: the rest arrives on the channel
    } while (earlyEvents.size && state.state === "joined");
  } catch (error) {
    fail("events catch-up", error);
  } finally {
    catchingUp = false;
  }
}

function apply(event) {
  if (event.userEndpointId === state.endpointId) return; // our own doing
  note(`${event.type} ${event.streamId || event.userEndpointId || ""}`);
  if (event.type === "ConferenceStreamPublishedEvent") {
    view(event.streamId, event.streamType, event.userEndpointId).catch((error) => fail(`view ${event.streamId}`, error));
  } else if (event.type === "ConferenceStreamUnpublishedEvent") {
    stopView(event.streamId).catch((error) => fail(`stop view ${event.streamId}`, error));
  } else if (event.type === "ConferenceEndedEvent") {
    leave("ended").catch((error) => fail("leave", error));
  }
}

// --- peer connections ---------------------------------------------------------------------

function preferCodec(transceiver, kind, codec) {
  if (kind !== "video" || !codec || !RTCRtpReceiver.getCapabilities) return;
  const all = RTCRtpReceiver.getCapabilities("video").codecs;
  const wanted = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
  if (!wanted.length) throw new Error(`this browser cannot receive ${codec}`);
  // H264: packetization-mode=1 and Constrained Baseline first, what aiortc and most peers take.
  const score = (c) => {
    const fmtp = c.sdpFmtpLine || "";
    return (fmtp.includes("packetization-mode=1") ? 0 : 2) + (/profile-level-id=42e0/.test(fmtp) ? 0 : 1);
  };
  wanted.sort((a, b) => score(a) - score(b));
  const rtx = all.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  transceiver.setCodecPreferences([...wanted, ...rtx]);
}

function countCandidates(sdp) {
  return sdp.split(/\r?\n/).filter((line) => line.startsWith("a=candidate:")).length;
}

/** Trickle: candidates found before the server answered wait, then go as one first batch. */
function trickle(pc, send) {
  const held = [];
  let ready = false;
  const entry = { sent: [], inOffer: 0, release: null };
  const deliver = (batch) => {
    entry.sent.push(...batch);
    send(batch).catch((error) => fail("add ICE candidates", error));
  };
  pc.addEventListener("icecandidate", (event) => {
    const c = event.candidate;
    const wire = c && c.candidate
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
      : { candidate: "" }; // end-of-candidates
    if (ready) deliver([wire]);
    else held.push(wire);
  });
  entry.release = () => {
    ready = true;
    if (held.length) deliver(held.splice(0));
  };
  return entry;
}

async function publish(type, tracks) {
  const streamId = crypto.randomUUID();
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of tracks) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [localStream] });
    preferCodec(transceiver, track.kind, state.codec);
  }
  const candidates = trickle(pc, (iceCandidates) =>
    api("POST", "/rtc-api/conferences/addPublishStreamIceCandidates", {
      conferenceId: state.conferenceId,
      userEndpointId: state.endpointId,
      streamId,
      iceCandidates,
    }),
  );
  state.published.set(streamId, { pc, type, candidates });
  await pc.setLocalDescription(await pc.createOffer());
  candidates.inOffer = countCandidates(pc.localDescription.sdp);
  const result = await api("POST", "/rtc-api/conferences/publishStream", {
    conferenceId: state.conferenceId,
    userEndpointId: state.endpointId,
    streamId,
    conferenceStreamType: type,
    sdpOffer: pc.localDescription.sdp,
  });
  await pc.setRemoteDescription({ type: "answer", sdp: result.sdpAnswer });
  candidates.release();
  note(`published ${type} ${streamId}`);
  return streamId;
}

async function view(streamId, type, publisherEndpointId) {
  if (state.viewed.has(streamId)) return;
  const kinds = STREAM_KINDS[type] || ["audio", "video"];
  const viewerId = crypto.randomUUID();
  const pc = new RTCPeerConnection({ iceServers: [] });
  const entry = {
    pc,
    viewerId,
    type,
    publisherEndpointId,
    startedAt: Date.now() / 1000,
    frames: [],
    tile: null,
    stopped: false,
  };
  state.viewed.set(streamId, entry);
  for (const kind of kinds) preferCodec(pc.addTransceiver(kind, { direction: "recvonly" }), kind, state.codec);
  const remote = new MediaStream();
  pc.addEventListener("track", (event) => {
    remote.addTrack(event.track);
    if (!entry.tile) entry.tile = addTile(streamId, remote, entry);
  });
  entry.candidates = trickle(pc, (iceCandidates) =>
    api("POST", "/rtc-api/conferences/addViewStreamIceCandidates", {
      conferenceId: state.conferenceId,
      userEndpointId: state.endpointId,
      streamId,
      viewerId,
      iceCandidates,
    }),
  );
  await pc.setLocalDescription(await pc.createOffer());
  entry.candidates.inOffer = countCandidates(pc.localDescription.sdp);
  const result = await api("POST", "/rtc-api/conferences/viewStream", {
    conferenceId: state.conferenceId,
    userEndpointId: state.endpointId,
    streamId,
    viewerId,
    sdpOffer: pc.localDescription.sdp,
  });
  if (entry.stopped) return; // unpublished while we asked
  await pc.setRemoteDescription({ type: "answer", sdp: result.sdpAnswer });
  entry.candidates.release();
  note(`viewing ${type} ${streamId}`);
}

async function stopView(streamId) {
  const entry = state.viewed.get(streamId);
  if (!entry) return;
  entry.stopped = true;
  state.viewed.delete(streamId);
  entry.pc.close();
  if (entry.tile) entry.tile.remove();
  try {
    await api("POST", "/rtc-api/conferences/stopViewStream", {
      conferenceId: state.conferenceId,
      userEndpointId: state.endpointId,
      streamId,
      viewerId: entry.viewerId,
    });
  } catch (error) {
    if (error.status !== 404) throw error; // 404: the stream is already gone
  }
  note(`stopped viewing ${streamId}`);
}

// --- media: camera with our timecode, tiles, frame reading -------------------------------------

/**
 * The camera, redrawn on a canvas with the timecode band painted over its top, so the agent
 * can measure this browser's delay the way it measures its own.
 */
function timecodedVideo(cameraTrack) {
  const source = document.getElementById("camera");
  source.srcObject = new MediaStream([cameraTrack]);
  source.play().catch(() => {});
  const canvas = document.getElementById("local");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const ctx = canvas.getContext("2d");
  let seq = 0;
  const draw = () => {
    if (source.readyState >= 2) ctx.drawImage(source, 0, 0, WIDTH, HEIGHT);
    else {
      ctx.fillStyle = `hsl(${(seq * 3) % 360} 60% 40%)`;
      ctx.fillRect(0, 0, WIDTH, HEIGHT);
    }
    timecode.embed(ctx, WIDTH, HEIGHT, seq, Date.now());
    seq += 1;
  };
  draw();
  setInterval(draw, 1000 / FPS);
  return canvas.captureStream(FPS).getVideoTracks()[0];
}

function addTile(streamId, stream, entry) {
  const tile = document.createElement("figure");
  tile.className = "tile";
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // autoplay without a gesture; audio is still received and decoded
  video.srcObject = stream;
  const caption = document.createElement("figcaption");
  caption.textContent = `${entry.type} ${streamId.slice(0, 8)} from ${String(entry.publisherEndpointId).slice(0, 8)}`;
  tile.append(video, caption);
  document.getElementById("tiles").append(tile);
  video.play().catch(() => {});
  readFrames(video, entry, caption);
  return tile;
}

/** One record per presented frame: [arrival (wall s), seq, sent ms] (null code: unreadable). */
function readFrames(video, entry, caption) {
  if (!video.requestVideoFrameCallback) {
    fail("frames", new Error("requestVideoFrameCallback is missing: no per-frame delay"));
    return;
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (_now, metadata) => {
    if (entry.stopped) return;
    const at = Date.now() / 1000;
    const width = metadata.width || video.videoWidth;
    const height = metadata.height || video.videoHeight;
    const g = timecode.geometry(width, height);
    let code = null;
    if (g !== null) {
      if (canvas.width !== width || canvas.height !== g.bandHeight) {
        canvas.width = width;
        canvas.height = g.bandHeight;
      }
      ctx.drawImage(video, 0, 0, width, g.bandHeight, 0, 0, width, g.bandHeight);
      code = timecode.read(ctx.getImageData(0, 0, width, g.bandHeight), width, height);
    }
    entry.frames.push(code ? [at, code[0], code[1]] : [at, null, null]);
    if (entry.frames.length > FRAME_RECORDS) entry.frames.shift();
    if (code && entry.frames.length % 15 === 0) {
      caption.dataset.delay = `${Math.round(at * 1000 - code[1])} ms`;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

// --- statistics ------------------------------------------------------------------------------

const INBOUND_FIELDS = [
  "ssrc", "packetsReceived", "packetsLost", "jitter", "bytesReceived", "framesDecoded", "framesDropped",
  "framesReceived", "framesPerSecond", "freezeCount", "totalFreezesDuration", "frameWidth",
  "frameHeight", "totalSamplesReceived", "concealedSamples", "audioLevel", "totalAudioEnergy",
  "decoderImplementation", "keyFramesDecoded", "nackCount", "pliCount",
];
const OUTBOUND_FIELDS = [
  "ssrc", "packetsSent", "bytesSent", "framesEncoded", "framesSent", "framesPerSecond", "frameWidth",
  "frameHeight", "encoderImplementation", "qualityLimitationReason", "nackCount", "pliCount",
];

function pick(stats, fields) {
  const out = {};
  for (const field of fields) if (stats[field] !== undefined) out[field] = stats[field];
  return out;
}

async function rtpStats(pc, type, fields) {
  const report = await pc.getStats();
  const byKind = {};
  report.forEach((stats) => {
    if (stats.type !== type) return;
    const codec = stats.codecId ? report.get(stats.codecId) : null;
    byKind[stats.kind] = { ...pick(stats, fields), codec: codec ? codec.mimeType : null };
  });
  return byKind;
}

window.auviousStats = async function auviousStats() {
  const published = [];
  for (const [streamId, entry] of state.published) {
    published.push({
      streamId,
      type: entry.type,
      connectionState: entry.pc.connectionState,
      candidatesSent: entry.candidates.sent.length,
      candidatesInOffer: entry.candidates.inOffer,
      outbound: await rtpStats(entry.pc, "outbound-rtp", OUTBOUND_FIELDS),
    });
  }
  const viewed = [];
  for (const [streamId, entry] of state.viewed) {
    viewed.push({
      streamId,
      viewerId: entry.viewerId,
      type: entry.type,
      publisherEndpointId: entry.publisherEndpointId,
      connectionState: entry.pc.connectionState,
      startedAt: entry.startedAt,
      candidatesSent: entry.candidates ? entry.candidates.sent.length : 0,
      candidatesInOffer: entry.candidates ? entry.candidates.inOffer : 0,
      inbound: await rtpStats(entry.pc, "inbound-rtp", INBOUND_FIELDS),
      frames: entry.frames.slice(),
    });
  }
  return {
    state: state.state,
    userId: state.userId,
    endpointId: state.endpointId,
    conferenceId: state.conferenceId,
    codec: state.codec,
    errors: state.errors.slice(),
    published,
    viewed,
  };
};

// --- join and leave --------------------------------------------------------------------------

async function join(options) {
  state.state = "joining";
  state.codec = options.codec || null;
  try {
    await login(options);
    const conferenceId = options.conference || token.conference_id;
    if (!conferenceId) throw new Error("no conference id: give one, or log in with a ticket for one");
    await register(options.keepAlive);
    await connectChannel();
    localStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: WIDTH, height: HEIGHT, frameRate: FPS },
    });
    state.conferenceId = conferenceId;
    await api("POST", "/rtc-api/conferences/join", { conferenceId, userEndpointId: state.endpointId });
    const view0 = await api("GET", `/rtc-api/conferences/${conferenceId}/simpleView`);
    expectedVersion = view0.version;
    state.state = "joined";
    const [audio] = localStream.getAudioTracks();
    const [camera] = localStream.getVideoTracks();
    const video = options.timecode ? timecodedVideo(camera) : camera;
    if (!options.timecode) document.getElementById("camera").srcObject = localStream;
    await publish("MIC_AND_CAM", [audio, video]);
    for (const participant of view0.participants || []) {
      for (const endpoint of participant.endpoints || []) {
        if (endpoint.id === state.endpointId) continue;
        for (const stream of endpoint.streams || []) {
          view(stream.id, stream.type, endpoint.id).catch((error) => fail(`view ${stream.id}`, error));
        }
      }
    }
    const early = pendingEvents;
    pendingEvents = [];
    for (const event of early) place(event);
    note(`joined ${conferenceId} as ${state.endpointId}`);
  } catch (error) {
    state.state = "failed";
    fail("join", error);
    await teardown("join failed");
  }
}

/** Stop everything this page runs, so a new join starts clean. */
async function teardown(reason) {
  clearInterval(keepaliveTimer);
  clearTimeout(refreshTimer);
  for (const entry of [...state.published.values(), ...state.viewed.values()]) entry.pc.close();
  state.published.clear();
  state.viewed.clear();
  if (mqttClient) mqttClient.end(true);
  mqttClient = null;
  if (localStream) for (const track of localStream.getTracks()) track.stop();
  localStream = null;
  if (token && state.endpointId) {
    await api("POST", "/rtc-api/users/endpoints/unregister", { userEndpointId: state.endpointId, reason }).catch(
      () => {},
    );
  }
  state.endpointId = null;
  expectedVersion = null;
  earlyEvents.clear();
  pendingEvents = [];
}

async function leave(reason) {
  if (state.state !== "joined") return;
  state.state = "left";
  const common = { conferenceId: state.conferenceId, userEndpointId: state.endpointId };
  for (const streamId of [...state.viewed.keys()]) await stopView(streamId).catch(() => {});
  for (const [streamId, entry] of state.published) {
    entry.pc.close();
    await api("POST", "/rtc-api/conferences/unpublishStream", { ...common, streamId }).catch(() => {});
  }
  state.published.clear();
  if (reason !== "ended") await api("POST", "/rtc-api/conferences/leave", common).catch(() => {});
  note(`left (${reason})`);
}

window.auviousLeave = () => leave("left");

// A page that goes away unregisters its endpoint: the platform then unpublishes its streams and
// the others stop viewing them, without waiting for the keepalive to expire.
window.addEventListener("pagehide", () => {
  if (!token || !state.endpointId) return;
  api("POST", "/rtc-api/users/endpoints/unregister", { userEndpointId: state.endpointId, reason: "pagehide" }, {
    keepalive: true,
  }).catch(() => {});
  if (mqttClient) mqttClient.end(true);
});

const PREFILLED = ["clientId", "ticket", "conference", "codec"];

/** URL parameters fill the form (a person sees what will be used), then the form is read. */
function prefill() {
  const params = new URLSearchParams(location.search);
  const form = document.getElementById("join");
  for (const name of PREFILLED) if (params.get(name)) form.elements[name].value = params.get(name);
}

function options() {
  const params = new URLSearchParams(location.search);
  const form = document.getElementById("join");
  const field = (name) => form.elements[name].value.trim();
  return {
    clientId: field("clientId"),
    clientSecret: field("clientSecret"), // never from the URL: addresses end up in histories
    ticket: field("ticket"),
    conference: field("conference"),
    codec: field("codec"),
    keepAlive: Number(params.get("keepAlive") || 30),
    timecode: params.get("timecode") !== "0",
    autojoin: params.get("autojoin") === "1",
  };
}

prefill();
document.getElementById("join").addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.state === "idle" || state.state === "failed") join(options());
});
document.getElementById("leave").addEventListener("click", () => window.auviousLeave());
if (options().autojoin) join(options());
