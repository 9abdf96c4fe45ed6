export const COLLECTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_DOCUMENT_ID_LENGTH = 256;

export function isCollectionName(name: unknown): name is string {
  return typeof name === 'string' && COLLECTION_NAME.test(name);
}
