// The agent's frame timecode (media/timecode.py) in JavaScript: the same band of 4 x 26 black
// and white cells (marker 0xA5, 32-bit sequence number, 48-bit send time in wall-clock ms,
// CRC-16/CCITT over both), read from and written to RGBA canvas pixels. Keep the two in step:
// the Python tests read what `embed` writes here and the page reads what the agent writes.

export const COLUMNS = 26;
export const ROWS = 4;
export const MARKER = 0xa5;
const LOW_THRESHOLD = 96;
const HIGH_THRESHOLD = 160;

/** Where the band lies in a frame of this size, or null when the frame is too small. */
export function geometry(width, height) {
  const cell = Math.min(Math.floor(width / COLUMNS), Math.floor(height / (2 * ROWS)));
  if (cell < 4) return null;
  return {
    width,
    height,
    cell,
    x0: Math.floor((width - COLUMNS * cell) / 2),
    bandWidth: COLUMNS * cell,
    bandHeight: ROWS * cell,
  };
}

/** binascii.crc_hqx(data, 0xFFFF): CRC-16/CCITT, polynomial 0x1021, not reflected. */
export function crcHqx(bytes, crc = 0xffff) {
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function payloadBytes(seq, tsMs) {
  const bytes = new Uint8Array(13);
  bytes[0] = MARKER;
  const s = ((seq % 2 ** 32) + 2 ** 32) % 2 ** 32;
  for (let i = 0; i < 4; i++) bytes[1 + i] = Math.floor(s / 2 ** (8 * (3 - i))) % 256;
  for (let i = 0; i < 6; i++) bytes[5 + i] = Math.floor(tsMs / 2 ** (8 * (5 - i))) % 256;
  const crc = crcHqx(bytes.subarray(0, 11));
  bytes[11] = crc >> 8;
  bytes[12] = crc & 0xff;
  return bytes;
}

/** Paint the code of (seq, tsMs) onto a 2D context whose canvas is width x height. */
export function embed(ctx, width, height, seq, tsMs) {
  const g = geometry(width, height);
  if (g === null) throw new Error(`frame ${width}x${height} is too small for a timecode`);
  const bytes = payloadBytes(seq, tsMs);
  for (let index = 0; index < COLUMNS * ROWS; index++) {
    const bit = (bytes[index >> 3] >> (7 - (index & 7))) & 1;
    // Full-range RGB: 0 and 255 become the limited-range luma levels 16 and 235 when encoded.
    ctx.fillStyle = bit ? "#ffffff" : "#000000";
    const row = Math.floor(index / COLUMNS);
    const col = index % COLUMNS;
    ctx.fillRect(g.x0 + col * g.cell, row * g.cell, g.cell, g.cell);
  }
}

/**
 * Read [seq, tsMs] from RGBA pixels of the band (an ImageData of the frame's top `bandHeight`
 * rows at full width), or null when the code is absent or damaged, exactly as
 * media/timecode.py's `read` does on an RGB frame.
 */
export function read(image, width, height) {
  const g = geometry(width, height);
  if (g === null || image.width < width || image.height < g.bandHeight) return null;
  const { cell, x0 } = g;
  const inset = Math.floor(cell / 4);
  const data = image.data;
  const stride = image.width * 4;
  const bytes = new Uint8Array(13);
  for (let index = 0; index < COLUMNS * ROWS; index++) {
    const row = Math.floor(index / COLUMNS);
    const col = index % COLUMNS;
    let sum = 0;
    let count = 0;
    for (let y = row * cell + inset; y < row * cell + cell - inset; y++) {
      let offset = y * stride + (x0 + col * cell + inset) * 4;
      for (let x = inset; x < cell - inset; x++, offset += 4) {
        sum += (data[offset] * 77 + data[offset + 1] * 150 + data[offset + 2] * 29) >> 8;
        count++;
      }
    }
    const mean = sum / count;
    if (mean > LOW_THRESHOLD && mean < HIGH_THRESHOLD) return null;
    if (mean >= HIGH_THRESHOLD) bytes[index >> 3] |= 0x80 >> (index & 7);
  }
  if (bytes[0] !== MARKER) return null;
  if (crcHqx(bytes.subarray(0, 11)) !== (bytes[11] << 8) + bytes[12]) return null;
  let seq = 0;
  for (let i = 1; i < 5; i++) seq = seq * 256 + bytes[i];
  let tsMs = 0;
  for (let i = 5; i < 11; i++) tsMs = tsMs * 256 + bytes[i];
  return [seq, tsMs];
}
