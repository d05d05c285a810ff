package httpapi

import (
	"log/slog"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/console"
)

// ConsoleAuth is the console's authenticator over n's personal tokens and
// the configured tokens ts.
func ConsoleAuth(n *node.Node, ts []config.Token) console.Authenticator {
	return consoleAuth{newTokenAuth(ts, slog.New(slog.DiscardHandler), n)}
}
