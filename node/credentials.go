package node

import (
	"crypto/x509"
)

// Certificate is this member's TLS certificate (the leaf it presents to
// peers), for the console's expiry page; nil when the node has none or it
// does not parse. It carries no secret.
func (n *Node) Certificate() *x509.Certificate {
	if n.o.TLS.Leaf != nil {
		return n.o.TLS.Leaf
	}
	if len(n.o.TLS.Certificate) == 0 {
		return nil
	}
	c, err := x509.ParseCertificate(n.o.TLS.Certificate[0])
	if err != nil {
		return nil
	}
	return c
}

// SigningKeyID is the kid of the key this node signs with now ("" when
// none): the console shows which of the manifest's keys is in use.
func (n *Node) SigningKeyID() string {
	if k := n.signer(); k != nil {
		return k.KID()
	}
	return ""
}
