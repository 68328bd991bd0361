import { GripSigner } from '../../src/grip/grip-sig.js';
import type { Route } from '../../src/routes/route.js';
import type { RouteTable } from '../../src/routes/route-table.js';

/** One Grip-Sig signer per distinct (key, issuer) among the routes; tokens are pre-signed. */
export class RouteSigners {
  private signers = new Map<string, GripSigner>();
  /** The signer of each route of the current table: looked up on every GRIP request. */
  private byRoute = new Map<Route, GripSigner>();

  /** --sig-key and --sig-iss: a reload sets them, then prepares the table again. */
  constructor(
    public defaultKey: string,
    public defaultIss: string,
  ) {}

  /** Creates signers for a (new) route table; resolves once each has a token. */
  async prepare(table: RouteTable): Promise<void> {
    const wanted = new Map<string, [string, string]>();
    for (const route of table.routes) {
      if (!route.isNoGrip) wanted.set(this.signerId(route), this.keyAndIssuer(route));
    }
    const next = new Map<string, GripSigner>();
    await Promise.all(
      [...wanted].map(async ([id, [key, issuer]]) => {
        // Route `file:` keys arrive absolute; the global key is relative to the working directory.
        next.set(
          id,
          this.signers.get(id) ??
            (await GripSigner.create({ key, issuer, baseDir: process.cwd() })),
        );
      }),
    );
    for (const [id, signer] of this.signers) if (!next.has(id)) signer.close();
    this.signers = next;
    this.byRoute = new Map();
    for (const route of table.routes) {
      const signer = next.get(this.signerId(route));
      if (signer) this.byRoute.set(route, signer);
    }
  }

  current(route: Route): string | undefined {
    // A request that began before a reload carries a route of the old table.
    const signer = this.byRoute.get(route) ?? this.signers.get(this.signerId(route));
    return signer?.current();
  }

  close(): void {
    for (const signer of this.signers.values()) signer.close();
  }

  private keyAndIssuer(route: Route): [string, string] {
    return [route.sigKey ?? this.defaultKey, route.sigIss ?? this.defaultIss];
  }

  private signerId(route: Route): string {
    const [key, issuer] = this.keyAndIssuer(route);
    return `${issuer}\u0000${key}`;
  }
}
