// A DICOM slice as the MRI classifier reads it, so that the MRI page can draw it (a browser
// cannot decode DICOM): PS3.10 files ("DICM" after the 128-byte preamble), uncompressed
// (implicit or explicit VR little endian), one sample per pixel, 8 or 16 bits. The first frame,
// RescaleSlope/Intercept applied, then the first WindowCenter/WindowWidth (PS3.3 C.11.2.1.2.1)
// when present, else minimum-maximum, to 0-255; MONOCHROME1 inverted. These are the steps and
// the rounding (half to even) of specimen_classify.adapters.mri_images, so the crop box the
// service answers falls on the same pixels. Anything else throws an Error naming why.

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;
const WANTED = {
  0x00280002: 'samples', 0x00280004: 'photometric', 0x00280008: 'frames', 0x00280010: 'rows',
  0x00280011: 'columns', 0x00280100: 'bitsAllocated', 0x00280103: 'signed',
  0x00281050: 'center', 0x00281051: 'width', 0x00281052: 'intercept', 0x00281053: 'slope',
};
const NUMBERS = new Set(['samples', 'rows', 'columns', 'bitsAllocated', 'signed']);
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

/** numpy.rint: the nearest integer, halves to the even one. */
function rint(value) {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function text(bytes, at, length) {
  return new TextDecoder('latin1').decode(bytes.subarray(at, at + length)).replace(/[\0 ]+$/, '').trim();
}

/** Parse elements from `at` to `end` (or to a delimiter); fills `found`; answers where it stopped. */
function parse(view, bytes, at, end, explicit, found, depth) {
  while (at + 8 <= end) {
    const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
    if (tag === ITEM_END || tag === SEQUENCE_END) return at + 8;
    let vr = '';
    let length;
    let header;
    if (tag === ITEM) {
      length = view.getUint32(at + 4, true);
      header = 8;
    } else if (explicit && (tag >>> 16) !== 0xfffe) {
      vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
      if (LONG_VRS.has(vr)) { length = view.getUint32(at + 8, true); header = 12; } else { length = view.getUint16(at + 6, true); header = 8; }
    } else {
      length = view.getUint32(at + 4, true);
      header = 8;
    }
    const start = at + header;
    if (tag === PIXEL_DATA && depth === 0) {
      if (length === UNDEFINED) throw new Error('its pixel data is compressed (encapsulated), which this page cannot draw');
      found.pixels = { at: start, length };
      return start + length;
    }
    if (length === UNDEFINED) {
      // A sequence (or an item) of undefined length: its elements up to the delimiter.
      at = parse(view, bytes, start, end, explicit, {}, depth + 1);
      continue;
    }
    if (vr === 'SQ' || tag === ITEM) {
      parse(view, bytes, start, start + length, explicit, {}, depth + 1);
    } else if (depth === 0 && WANTED[tag]) {
      const name = WANTED[tag];
      if (NUMBERS.has(name)) found[name] = view.getUint16(start, true);
      else found[name] = text(bytes, start, length);
    }
    at = start + length;
  }
  return at;
}

function firstNumber(value, fallback) {
  if (value === undefined || value === '') return fallback;
  const number = Number(String(value).split('\\')[0]);
  return Number.isFinite(number) ? number : fallback;
}

/** Answers {width, height, gray: Uint8ClampedArray} for a DICOM file's bytes; throws otherwise. */
export function decodeDicom(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  if (bytes.length < 132 || text(bytes, 128, 4) !== 'DICM') throw new Error('it is not a DICOM file');
  // The file meta group is always explicit VR little endian.
  let at = 132;
  let syntax = '';
  while (at + 8 <= bytes.length && view.getUint16(at, true) === 0x0002) {
    const element = view.getUint16(at + 2, true);
    const vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
    const long = LONG_VRS.has(vr);
    const length = long ? view.getUint32(at + 8, true) : view.getUint16(at + 6, true);
    const start = at + (long ? 12 : 8);
    if (element === 0x0010) syntax = text(bytes, start, length);
    at = start + length;
  }
  if (syntax !== IMPLICIT_LE && syntax !== EXPLICIT_LE) {
    throw new Error(`its transfer syntax ${syntax || '(none)'} is not an uncompressed little-endian one`);
  }
  const found = {};
  parse(view, bytes, at, bytes.length, syntax === EXPLICIT_LE, found, 0);
  const { rows, columns, pixels } = found;
  if (!pixels || !rows || !columns) throw new Error('it has no pixel data or no image size');
  if ((found.samples ?? 1) !== 1) throw new Error('it is in colour, which this page cannot draw');
  const bits = found.bitsAllocated ?? 16;
  if (bits !== 8 && bits !== 16) throw new Error(`its pixels have ${bits} bits, which this page cannot draw`);
  const count = rows * columns;
  if (pixels.length < count * (bits / 8)) throw new Error('its pixel data is truncated');
  const slope = firstNumber(found.slope, 1);
  const intercept = firstNumber(found.intercept, 0);
  const values = new Float64Array(count);
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < count; i += 1) {
    let raw;
    if (bits === 8) raw = found.signed ? view.getInt8(pixels.at + i) : bytes[pixels.at + i];
    else raw = found.signed ? view.getInt16(pixels.at + 2 * i, true) : view.getUint16(pixels.at + 2 * i, true);
    // pydicom's modality LUT: values * slope + intercept, only when they change anything.
    const value = slope !== 1 || intercept !== 0 ? raw * slope + intercept : raw;
    values[i] = value;
    if (value < low) low = value;
    if (value > high) high = value;
  }
  const center = firstNumber(found.center, null);
  const width = firstNumber(found.width, null);
  const gray = new Uint8ClampedArray(count);
  for (let i = 0; i < count; i += 1) {
    let level;
    if (center !== null && width !== null && width >= 1) {
      level = rint(Math.min(Math.max(((values[i] - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0, 0), 255));
    } else {
      level = high <= low ? 0 : rint((values[i] - low) * (255.0 / (high - low)));
    }
    gray[i] = found.photometric === 'MONOCHROME1' ? 255 - level : level;
  }
  return { width: columns, height: rows, gray };
}
