// Package progress shows how far long work has got (indexing a root
// filesystem, reading an image's files, importing a database, loading
// manifests) as one line on a terminal, rewritten at most every 250 ms and
// erased when the work ends.
//
// Contract: a Bar writes only when it was started enabled, which the
// command line decides (standard error is a terminal, no -q, text logs);
// a nil *Bar is valid and does nothing, so a library takes a *Bar and never
// asks whether anyone is watching. Counters are safe for concurrent use.
// Nothing here is a log: the line carries no information that is not also
// in the command's result or its warnings.
package progress
