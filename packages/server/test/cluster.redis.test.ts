import { redisAvailable, redisUrl } from '../../../test/services.js';
import { registerClusterTests } from './cluster-suite.js';

registerClusterTests('Redis (MessagePack)', { url: redisUrl, defaultPort: 6379, available: redisAvailable, serializer: 'msgpack' });
