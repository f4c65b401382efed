// The page of a graphspec web bundle: loads model.json and the ONNX model on
// onnxruntime-web (wasm, one thread), takes inputs (a file of numbers; for
// image inputs a canvas to draw on or an image to drop), shows the outputs
// with class names and the latency. window.graphspec exposes run() for tests.
import * as ort from './ort.wasm.bundle.min.mjs';

ort.env.wasm.numThreads = 1;          // fastest on small CPUs, and needs no COOP/COEP
// the bundled loader finds ort-wasm-simd-threaded.wasm beside itself; setting wasmPaths
// to a folder would make it fetch a separate .mjs glue file that the bundle does not need

const $ = (id) => document.getElementById(id);
const state = { meta: null, session: null, values: {} };

function staticDims(input, count) {
  // Bind symbolic dims: batch from the count of numbers, others from model.json dims.
  const dims = input.shape.map((d, i) => (typeof d === 'number' ? d : (i === 0 ? null : state.meta.dims[d] ?? null)));
  const known = dims.reduce((a, d) => a * (d ?? 1), 1);
  const free = dims.filter((d) => d === null).length;
  if (free === 0) return known === count ? dims : null;
  if (free > 1 || count % known !== 0) return null;
  return dims.map((d) => (d === null ? count / known : d));
}

function tensorFor(input, data) {
  const dims = staticDims(input, data.length);
  if (!dims) throw new Error(`input ${input.name}: ${data.length} numbers do not fit shape [${input.shape}]`);
  const int = input.dtype.startsWith('int');
  const arr = int ? BigInt64Array.from(data, (v) => BigInt(Math.round(v))) : Float32Array.from(data);
  return new ort.Tensor(int ? 'int64' : 'float32', arr, dims);
}

async function run(values) {
  // values: {inputName: array of numbers}; returns {outputs: {name: {dims, data}}, ms}
  const feeds = {};
  for (const input of state.meta.inputs) feeds[input.name] = tensorFor(input, values[input.name]);
  const t0 = performance.now();
  const res = await state.session.run(feeds);
  const ms = performance.now() - t0;
  const outputs = {};
  for (const [k, t] of Object.entries(res)) outputs[k] = { dims: t.dims.map(Number), data: Array.from(t.data, Number) };
  return { outputs, ms };
}

function softmax(row) {
  const m = Math.max(...row); const e = row.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function show(result) {
  const box = $('outputs'); box.innerHTML = '';
  for (const out of state.meta.outputs) {
    const r = result.outputs[out.name];
    const h = document.createElement('h3'); h.textContent = `${out.name} [${r.dims}]`; box.appendChild(h);
    if (out.classes && r.dims.length === 2) {
      const n = r.dims[1];
      for (let b = 0; b < r.dims[0]; b++) {
        const row = r.data.slice(b * n, (b + 1) * n); const p = softmax(row);
        const order = [...p.keys()].sort((i, j) => p[j] - p[i]).slice(0, 5);
        const t = document.createElement('table'); t.className = 'prediction';
        t.innerHTML = '<tr><th>class</th><th>probability</th><th>output</th></tr>' + order.map((i) =>
          `<tr><td class="cls">${out.classes[i]}</td><td>${(100 * p[i]).toFixed(1)} %</td><td>${row[i].toFixed(4)}</td></tr>`).join('');
        box.appendChild(t);
      }
    } else {
      const pre = document.createElement('pre'); pre.textContent = r.data.slice(0, 200).map((v) => v.toPrecision(5)).join(' ');
      box.appendChild(pre);
    }
  }
  $('latency').textContent = `latency ${result.ms.toFixed(2)} ms (onnxruntime-web, wasm, 1 thread)`;
}

async function runPage() {
  try {
    for (const input of state.meta.inputs) {
      if (input.kind === 'image' && !state.values[input.name]) state.values[input.name] = imageValues(input);
      if (!state.values[input.name]) throw new Error(`give input ${input.name} first`);
    }
    const result = await run(state.values);
    show(result);
    $('status').textContent = 'done';
    return result;
  } catch (e) { $('status').innerHTML = `<span class="error">${e.message}</span>`; throw e; }
}

// ---- inputs
function numbersFrom(text) { return (text.match(/[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/g) || []).map(Number); }

function fileInput(input, div) {
  const f = document.createElement('input'); f.type = 'file'; f.accept = '.txt,.csv,.json';
  f.onchange = async () => { state.values[input.name] = numbersFrom(await f.files[0].text()); $('status').textContent = `${input.name}: ${state.values[input.name].length} numbers read`; };
  const l = document.createElement('label'); l.textContent = 'a file of numbers: '; l.appendChild(f); div.appendChild(l);
}

function imageValues(input) {
  // Crop the ink, fit it into HxW (keeping its aspect), scale to the input's range.
  const src = state.canvas, W = input.width, H = input.height, C = input.channels;
  const ctx = src.getContext('2d'); const img = ctx.getImageData(0, 0, src.width, src.height).data;
  let x0 = src.width, y0 = src.height, x1 = -1, y1 = -1;
  for (let y = 0; y < src.height; y++) for (let x = 0; x < src.width; x++) {
    const i = 4 * (y * src.width + x);
    if (img[i] + img[i + 1] + img[i + 2] > 60) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const small = document.createElement('canvas'); small.width = W; small.height = H;
  const s = small.getContext('2d'); s.fillStyle = '#000'; s.fillRect(0, 0, W, H); s.imageSmoothingQuality = 'high';
  if (x1 >= 0) {
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1, k = Math.min(W / bw, H / bh);
    const dw = bw * k, dh = bh * k;
    s.drawImage(src, x0, y0, bw, bh, (W - dw) / 2, (H - dh) / 2, dw, dh);
  }
  const px = s.getImageData(0, 0, W, H).data; const [lo, hi] = input.range || [0, 1];
  const out = new Array(C * H * W);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) {
    const v = C === 1 ? (px[4 * i] + px[4 * i + 1] + px[4 * i + 2]) / 3 : px[4 * i + c];
    out[c * H * W + i] = lo + (hi - lo) * v / 255;
  }
  return out;
}

function canvasInput(input, div) {
  const c = document.createElement('canvas'); c.id = 'draw'; c.width = 256; c.height = 256; state.canvas = c;
  const ctx = c.getContext('2d'); ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 256, 256);
  ctx.strokeStyle = '#fff'; ctx.lineWidth = 26; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  let down = false;
  const at = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  c.onpointerdown = (e) => { down = true; ctx.beginPath(); ctx.moveTo(...at(e)); };
  c.onpointermove = (e) => { if (down) { ctx.lineTo(...at(e)); ctx.stroke(); } };
  c.onpointerup = c.onpointerleave = () => { if (down) { down = false; state.values[input.name] = null; runPage(); } };
  const clear = document.createElement('button'); clear.textContent = 'clear';
  clear.onclick = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 256, 256); state.values[input.name] = null; };
  const drop = document.createElement('div'); drop.className = 'drop'; drop.textContent = 'or drop an image here (light ink on a dark background)';
  drop.ondragover = (e) => e.preventDefault();
  drop.ondrop = async (e) => {
    e.preventDefault(); const bmp = await createImageBitmap(e.dataTransfer.files[0]);
    ctx.drawImage(bmp, 0, 0, 256, 256); state.values[input.name] = null; runPage();
  };
  div.append(c, document.createElement('br'), clear, drop);
}

async function main() {
  state.meta = await (await fetch('model.json')).json();
  const m = state.meta;
  $('title').textContent = `${m.name} (${m.graph})`;
  for (const input of m.inputs) {
    const div = document.createElement('div'); div.className = 'input';
    div.innerHTML = `<b>${input.name}</b> [${input.shape}] ${input.dtype}` + (input.range ? `, values ${input.range[0]}..${input.range[1]}` : '') + '<br>';
    if (input.kind === 'image') canvasInput(input, div);
    fileInput(input, div);
    $('inputs').appendChild(div);
  }
  state.session = await ort.InferenceSession.create(m.model, { executionProviders: ['wasm'] });
  $('run').disabled = false; $('run').onclick = () => { for (const i of m.inputs) if (i.kind === 'image' && !state.values[i.name]) state.values[i.name] = null; runPage(); };
  $('about').textContent = `${m.model} (${m.precision}) on ${m.runtime}`;
  $('status').textContent = 'ready';
  window.graphspec = { meta: m, run, runPage, ready: true };
}

main().catch((e) => { $('status').innerHTML = `<span class="error">${e.message}</span>`; window.graphspec = { error: String(e) }; });
