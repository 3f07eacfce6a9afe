// Builds the console into the Python package, which serves it (sitesnap serve,
// or the Flask extension under a prefix).  Relative asset URLs plus hash routing
// make one build work under any prefix.
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

const outDir = fileURLToPath(new URL('../src/sitesnap/web/static/console', import.meta.url))

export default defineConfig({
  base: './',
  plugins: [vue()],
  define: {
    __VUE_OPTIONS_API__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'false',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` against a running `sitesnap serve` on the default port.
    proxy: { '/api': 'http://127.0.0.1:8470' },
  },
})
