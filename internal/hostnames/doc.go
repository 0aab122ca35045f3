// Package hostnames resolves the host names rules compare IP addresses
// with (fd.sip.name, fd.cip.name, fd.rip.name, fd.lip.name), as Falco's DNS
// manager does: at run time, in the background, never on the event path.
//
// A Resolver hands out one Entry per host name. Entry creation never
// blocks: the first resolution starts in a goroutine bounded by the
// resolver's timeout, and an entry refreshes itself the same way once its
// addresses are older than the refresh interval (a Match that finds it
// stale starts the refresh and answers with the addresses it has). Until a
// host name has resolved once it matches no address.
//
// Bounds: at most MaxHosts entries (further host names get an entry that
// never resolves, and Dropped counts them) and MaxAddrs addresses per host.
// Match, Name and the reverse lookup allocate nothing; they are safe for
// concurrent use. Each resolution's goroutine ends within the timeout; no
// goroutine outlives its resolution, so a Resolver needs no Close.
package hostnames
