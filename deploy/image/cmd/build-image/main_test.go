package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseCreated(t *testing.T) {
	tests := []struct {
		name, flag, epoch string
		want              time.Time
		err               string
	}{
		{"default: the epoch (zero time)", "", "", time.Time{}, ""},
		{"SOURCE_DATE_EPOCH", "", "1700000000", time.Unix(1700000000, 0).UTC(), ""},
		{"flag wins", "2026-01-02T03:04:05Z", "1700000000", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ""},
		{"bad flag", "yesterday", "", time.Time{}, "-created"},
		{"bad epoch", "", "soon", time.Time{}, "SOURCE_DATE_EPOCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCreated(tc.flag, tc.epoch)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("parseCreated = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{}, "-oci-layout"},
		{"tarball with two platforms", []string{"-tarball", "x.tar", "-arch", "amd64,arm64"}, "one -arch"},
		{"unknown flag", []string{"-push"}, "push"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%v) = %v, want an error naming %q", tc.args, err, tc.want)
			}
		})
	}
}
