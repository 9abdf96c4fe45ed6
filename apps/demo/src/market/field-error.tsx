/** An inline validation message under a form field (testid = its id, e.g. `new-price-error`). */
export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <span className="field-error" id={id} data-testid={id} role="alert">
      {message}
    </span>
  );
}
