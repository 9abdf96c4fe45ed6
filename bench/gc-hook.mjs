/**
 * Preloaded into a server child by the memory scenario (NODE_OPTIONS=--import=…):
 * on SIGUSR2, two full garbage collections, then the process's memory figures
 * are written as JSON to $BENCH_GC_FILE. Plain JavaScript so that the Syncline
 * server child needs no TypeScript loader.
 */
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

const file = process.env.BENCH_GC_FILE;
if (file) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  let count = 0;
  process.on('SIGUSR2', () => {
    gc();
    gc();
    count++;
    const heap = v8.getHeapStatistics();
    writeFileSync(
      file,
      JSON.stringify({
        count,
        ...process.memoryUsage(),
        mallocedMemory: heap.malloced_memory,
        totalHeapSize: heap.total_heap_size,
      }),
    );
  });
}
