import { defineConfig } from "vitest/config";

// No @vitejs/plugin-react: Vite's own transform handles TSX with the automatic
// JSX runtime, and fast refresh is not worth a dependency here.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Fixed file names: the built files are committed and `make ui-check`
    // compares them byte for byte, so nothing may depend on time or hashes
    // of the environment. Cache-busting is the server's job (ETag).
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "happy-dom",
    globals: true,
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
