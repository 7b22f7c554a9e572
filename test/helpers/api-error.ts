import OpenAI from "openai";

/** The OpenAI SDK's error for a call that must fail (any other outcome fails the test). */
export async function apiError(
  call: Promise<unknown>,
): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}
