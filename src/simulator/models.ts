// The upstream's own model table (UPSTREAM.md), kept apart from src/catalog on
// purpose: the simulator is an independent re-implementation of the upstream.

export const simModels: Readonly<Record<string, number>> = {
  "gpt-image-2": 14,
  "gemini-3-pro-image-preview": 4,
  "gemini-3.1-flash-image-preview": 4,
  "grok-imagine-image": 1,
  "grok-imagine-image-pro": 1,
  "grok-imagine-image-lite": 0,
  "grok-imagine-image-edit": 3,
};

export const simAliases: Readonly<Record<string, string>> = {
  "dall-e": "gpt-image-2",
  "dall-e-2": "gpt-image-2",
  "dall-e-3": "grok-imagine-image-pro",
  "nano-banana": "gemini-3.1-flash-image-preview",
  "nano-banana2": "gemini-3.1-flash-image-preview",
  "nano-banana-2": "gemini-3.1-flash-image-preview",
  "nano-banana-pro": "gemini-3-pro-image-preview",
  "grok-imagine-image-quality": "grok-imagine-image-pro",
};

/** How many reference images a model id takes. */
export function simReferenceLimit(model: string): number {
  return Object.hasOwn(simModels, model) ? (simModels[model] ?? 0) : 0;
}

/** The model id behind a name, or undefined if the upstream has no channel for it. */
export function simResolve(name: string): string | undefined {
  // hasOwn, not `in`: "constructor" is no model.
  if (Object.hasOwn(simModels, name)) return name;
  return Object.hasOwn(simAliases, name) ? simAliases[name] : undefined;
}
