/** HS256 tokens for the default-namespace tests. */
import { SignJWT } from 'jose';

export const HS_SECRET = 'esink-tests-hs256-secret-0123456789';

export function jwtFor(userId: string, opts: { expIn?: string } = {}): Promise<string> {
  return new SignJWT({ sub: userId })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(opts.expIn ?? '10m')
    .sign(new TextEncoder().encode(HS_SECRET));
}
