/**
 * Why the transcriber will not take a recording; the HTTP routes map them to 404 and 409. Their
 * own module because both the live side and the re-cut of a file throw them.
 */
export class UnknownRecordingError extends Error {
  override readonly name = 'UnknownRecordingError';
}
export class RecordingInProgressError extends Error {
  override readonly name = 'RecordingInProgressError';
}
