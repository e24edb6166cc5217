package outboxsql

import "time"

// Stats has the fields of outbox.DestinationStats: convert one to the
// other.
type Stats struct {
	Destination                               string
	Pending, Delivering, Retrying, Dead, Sent int
	OldestUnsent                              time.Time
}

// AppendStats folds one row of a store's per-destination, per-state count
// into stats, which a store builds from rows ordered by destination: count
// messages of dest are in state, the oldest created at oldest. Stores call
// it so that they all report the same way. A row of an unknown state is
// ignored.
func AppendStats(stats []Stats, dest string, state, count int, oldest time.Time) []Stats {
	if len(stats) == 0 || stats[len(stats)-1].Destination != dest {
		stats = append(stats, Stats{Destination: dest})
	}
	d := &stats[len(stats)-1]
	switch state {
	case Pending:
		d.Pending = count
	case Delivering:
		d.Delivering = count
	case Retrying:
		d.Retrying = count
	case Sent:
		d.Sent = count
	case Dead:
		d.Dead = count
	default:
		return stats
	}
	if state == Pending || state == Delivering || state == Retrying {
		if d.OldestUnsent.IsZero() || oldest.Before(d.OldestUnsent) {
			d.OldestUnsent = oldest
		}
	}
	return stats
}
