/**
 * The admin API as the dashboard reads it: the response types are declared once,
 * in @syncline/protocol (admin.ts), next to the server that sends them.
 */
export type {
  AdminBus as BusInfo,
  AdminClient as ClientRow,
  AdminCollections as Collections,
  AdminOperation as OperationRow,
  AdminOverview as Overview,
  AdminSample as Sample,
  AdminSeries as Series,
  CompactResponse as CompactResult,
} from '@syncline/protocol';
