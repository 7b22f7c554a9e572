// The catalogue's submit body (the seed's vocabulary, itself OpenAI's images
// API plus `image_url` and `extra_body`) as an OpenAI images call. Pure.
// References become a JSON edit (`images: [{image_url}]`, which OpenAI takes
// for its GPT image models); `extra_body` is spread into the body, as the
// OpenAI SDK itself does with it.

export interface OpenAIImagesCall {
  path: "/images/generations" | "/images/edits";
  body: Record<string, unknown>;
}

export function openaiImagesCall(submitBody: Readonly<Record<string, unknown>>): OpenAIImagesCall {
  const { image_url: references, extra_body: extra, ...fields } = submitBody;
  const body: Record<string, unknown> = {
    ...(typeof extra === "object" && extra !== null ? (extra as Record<string, unknown>) : {}),
    ...fields,
  };
  if (references === undefined) return { path: "/images/generations", body };
  const list = Array.isArray(references) ? references : [references];
  body.images = list.map((reference: unknown) => ({ image_url: reference }));
  return { path: "/images/edits", body };
}
