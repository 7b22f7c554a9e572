// Image post-processing with sharp (libvips, on libuv's threadpool): inspect,
// conform a result to the size and format asked, and composite a masked edit.
// Pure: no Fastify, no tenants, no configuration; an input is a Buffer or the
// path of a file, and every failure is an ImageProcessingError.
export {
  type ConformedImage,
  type ConformTarget,
  conformImage,
  type Encoding,
  type OutputFormat,
} from "./conform.js";
export { applyMask, checkMask, type MaskBox, maskBoundingBox } from "./mask.js";
export {
  type ImageFault,
  type ImageFormat,
  type ImageInfo,
  type ImageInput,
  type ImageParam,
  ImageProcessingError,
  inspectImage,
  maxInputPixels,
} from "./source.js";
