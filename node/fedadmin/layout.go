package fedadmin

import "path/filepath"

// Paths inside a federation directory, slash-separated.
const (
	AnchorKeyFile = "anchor/anchor.jwk"     // trust anchor private key (0600; keep offline)
	AnchorPubFile = "anchor/anchor.pub.jwk" // trust anchor public key
	CADir         = "ca"                    // development CA (ca.crt, ca.key 0600)
	ManifestFile  = "manifest.jws"          // the signed manifest
	SettingsFile  = "federation.json"       // administrative settings
	MembersDir    = "members"               // one folder per member
)

// Paths inside a member folder (members/<ID>/), slash-separated. The node's
// config.yaml names them relative to data_dir ("data").
const (
	MemberConfigFile     = "config.yaml"
	MemberPolicyFile     = "policy.yaml"
	MemberTokensFile     = "tokens.txt"
	MemberDataDir        = "data"
	MemberCertFile       = "data/tls/cert.pem"
	MemberKeyFile        = "data/tls/key.pem"
	MemberKeysDir        = "data/keys"
	MemberSigningKeyFile = "data/keys/signing.jwk"
	MemberBundleKeyFile  = "data/keys/bundle.jwk" // encryption key for carried bundles
	MemberAnchorFile     = "data/trust/anchor.jwk"
	MemberManifestFile   = "data/trust/manifest.jws"
)

// knownEntries are the top-level entries Init creates (and --force removes).
var knownEntries = []string{"anchor", CADir, MembersDir, ManifestFile, SettingsFile}

// MemberDir returns the folder of member id inside the federation directory dir.
func MemberDir(dir, id string) string { return filepath.Join(dir, MembersDir, id) }

// MemberPath returns a file of member id, rel being one of the Member* paths.
func MemberPath(dir, id, rel string) string {
	return filepath.Join(MemberDir(dir, id), filepath.FromSlash(rel))
}

// oldSigningKeyFile is where a rotated-out signing key is kept until its exp.
func oldSigningKeyFile(kid string) string { return MemberKeysDir + "/signing." + kid + ".jwk" }

func fpath(dir, rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
