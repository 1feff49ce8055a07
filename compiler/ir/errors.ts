// Errors a user can act on: the CLIs print their message alone (no stack) and exit with code 2.
export class FlipError extends Error {
  override name = 'FlipError';
}

/** A shape, axis-name or dtype mistake in user code; the message names the shapes and the user's line. */
export class ShapeError extends FlipError {
  override name = 'ShapeError';
}

export function isFlipError(e: unknown): e is FlipError {
  return e instanceof FlipError;
}
