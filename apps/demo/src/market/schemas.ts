/**
 * The demo tables as zod schemas (the contract's `product` and `category` rows).
 * `productSchema` checks local writes before they are queued and rows from the
 * server before they are shown; `productInput` checks the forms, field by field.
 */
import type { Schema } from '@syncline/client';
import { z } from 'zod';

const name = z.string().trim().min(1, 'Enter a name').max(120, 'At most 120 characters');
const price = z
  .number({ error: 'Enter a price' })
  .min(0, 'The price cannot be negative')
  .max(99_999_999.99, 'At most 99,999,999.99')
  // numeric(10,2): the server would round a third decimal away.
  .refine((v) => Math.abs(Math.round(v * 100) / 100 - v) < 1e-9, 'At most two decimals');
const description = z.string().max(2000, 'At most 2000 characters');
const category = z.number().int().positive().nullable();

export const productSchema = z.object({
  id: z.string().optional(),
  name,
  price,
  description: description.optional(),
  category: category.optional(),
  lastUpdate: z.string().optional(),
});

export const categorySchema = z.object({ id: z.number().int(), name: z.string() });

export const productInput = z.object({ name, price, description, category });
export type ProductInput = z.infer<typeof productInput>;

export interface Product {
  _id: string;
  _rev?: number;
  id?: string;
  name: string;
  price: number;
  description?: string;
  category?: number | null;
  lastUpdate?: string;
}

export interface Category {
  _id: string;
  id: number;
  name: string;
}

/** The form's raw strings → typed input, or the first message per field. */
export function parseProductForm(form: {
  name: string;
  price: string;
  description: string;
  category: string;
}): { ok: true; value: ProductInput } | { ok: false; errors: Partial<Record<keyof ProductInput, string>> } {
  const raw = {
    name: form.name,
    price: form.price.trim() === '' ? Number.NaN : Number(form.price),
    description: form.description,
    category: form.category === '' ? null : Number(form.category),
  };
  const r = productInput.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  const errors: Partial<Record<keyof ProductInput, string>> = {};
  for (const issue of r.error.issues) {
    const field = issue.path[0] as keyof ProductInput;
    errors[field] ??= issue.message;
  }
  return { ok: false, errors };
}

/** The same form without checks (the "let the server decide" switch): only converts types. */
export function rawProductForm(form: { name: string; price: string; description: string; category: string }): ProductInput {
  return {
    name: form.name,
    price: Number(form.price),
    description: form.description,
    category: form.category === '' ? null : Number(form.category),
  };
}

/** Browser-side checks can be switched off to see what the server answers (e.g. CONSTRAINT_VIOLATION). */
export const browserChecks = { enabled: true };

/** The collection schema given to the client: productSchema, unless browser checks are off. */
export const productCollectionSchema: Schema = {
  safeParse: (v) => (browserChecks.enabled ? productSchema.safeParse(v) : { success: true }),
};
