// tap's coverage map (package.json "tap"."coverage-map"): unit tests measure
// the coverage of src/ (as compiled: every test runs from dist/). Integration
// tests measure none (they run the daemon as a child, in containers and in a
// Debian root where tap's hooks have no place), and neither do the
// property-based fuzz tests (test/fuzz/): they look for crashes over 10,000
// inputs each, and V8's precise coverage makes them 2-3x slower for no coverage
// the example-based tests do not already give.
export default (file) => (/^(dist\/)?test\/unit(-groups)?\//.test(file) ? [file.startsWith('dist/') ? 'dist/src/**/*.js' : 'src/**/*.ts'] : null);
