package cli

import "io"

// IO is where a command reads and writes.
type IO struct {
	// Stdin is read by commands that take input from standard input, such
	// as `rebound call -d @-`. Nil reads as empty.
	Stdin io.Reader
	// Stdout receives a command's output and Stderr its diagnostics. Nil
	// discards.
	Stdout, Stderr io.Writer
	// StderrIsTerminal makes progress a single rewritten line instead of plain lines.
	StderrIsTerminal bool
}

// orDefaults returns stdio with its nil fields replaced.
func (stdio IO) orDefaults() IO {
	if stdio.Stdin == nil {
		stdio.Stdin = eofReader{}
	}
	if stdio.Stdout == nil {
		stdio.Stdout = io.Discard
	}
	if stdio.Stderr == nil {
		stdio.Stderr = io.Discard
	}
	return stdio
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
