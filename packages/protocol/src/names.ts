import { z } from 'zod';
import { storableText } from './text.js';

export const COLLECTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_DOCUMENT_ID_LENGTH = 256;

export const CollectionNameSchema = z.string().regex(COLLECTION_NAME, 'collection names must match [A-Za-z0-9_-]{1,64}');
export const DocumentIdSchema = storableText(z.string().min(1).max(MAX_DOCUMENT_ID_LENGTH));

export function isCollectionName(name: unknown): name is string {
  return typeof name === 'string' && COLLECTION_NAME.test(name);
}
