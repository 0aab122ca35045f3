// Package termtext makes text from untrusted sources (file names, command
// lines, image, package and manifest contents) safe to print on a terminal
// and in line- and tab-separated forms: control characters (C0, DEL, C1,
// U+2028 and U+2029) and invalid UTF-8 are escaped (\n, \r, \t, else \xHH
// per byte), so a value can forge neither a line, nor a column, nor a
// terminal escape sequence.
//
// Backslashes are left as they are: text escaped once (an alert's output,
// escaped by the engine as it is formatted) comes out unchanged, never
// escaped twice. Table writes rows of escaped cells through text/tabwriter;
// it is the one table writer of the CLI.
package termtext
