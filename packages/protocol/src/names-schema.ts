// Apart from names.ts so that the client, which needs only the zod-free checks, does not bundle zod.
import { z } from 'zod';
import { COLLECTION_NAME, MAX_DOCUMENT_ID_LENGTH } from './names.js';
import { storableText } from './text.js';

export const CollectionNameSchema = z.string().regex(COLLECTION_NAME, 'collection names must match [A-Za-z0-9_-]{1,64}');
export const DocumentIdSchema = storableText(z.string().min(1).max(MAX_DOCUMENT_ID_LENGTH));
