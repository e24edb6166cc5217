// Package migrations reads the embedded, versioned schema files that the
// engine-specific runners (internal/pgmigrate, internal/sqlmigrate) apply.
package migrations

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// File is one migration: migrations/NNN_what.sql.
type File struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the files of files' migrations directory in version order.
// Versions must start at 1 and have no gaps; prefix begins the error that
// says otherwise.
func Load(files fs.FS, prefix string) ([]File, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []File
	for _, e := range entries { // ReadDir sorts by name, so by version
		head, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(head)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("%s: migration %s: want version %d first in its name", prefix, e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(files, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, File{Version: v, Name: e.Name(), SQL: string(b)})
	}
	return ms, nil
}
