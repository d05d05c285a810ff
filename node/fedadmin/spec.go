package fedadmin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/familylinks/flx/federation"
)

var (
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	hostnameRE = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// MemberSpec describes a member to create: the --member
// ID:COUNTRY:ROLE:ENDPOINT flag and its --host names.
type MemberSpec struct {
	ID       string
	Name     string // display name; default ID
	Country  string // ISO 3166 alpha-2 (tests use XA, XB, ...)
	Role     federation.Role
	Endpoint string // https base URL of its federation API
	// Hosts are extra names for its TLS certificate (DNS names or IP
	// addresses). The endpoint's host, localhost, 127.0.0.1 and ::1 are
	// always included.
	Hosts []string
}

// ParseMemberSpec parses ID:COUNTRY:ROLE:ENDPOINT (the endpoint may itself
// contain colons) and validates it.
func ParseMemberSpec(s string) (MemberSpec, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 4)
	if len(parts) != 4 {
		return MemberSpec{}, fmt.Errorf("member %q: want ID:COUNTRY:ROLE:ENDPOINT, e.g. XA-RC:XA:society:https://xa-rc.example:8443", s)
	}
	spec := MemberSpec{ID: parts[0], Country: parts[1], Role: federation.Role(parts[2]), Endpoint: parts[3]}
	if err := spec.Validate(); err != nil {
		return MemberSpec{}, err
	}
	return spec, nil
}

// Validate reports every problem of the spec at once.
func (s MemberSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("member %s: %s", s.ID, fmt.Sprintf(format, args...)))
	}
	if !federation.ValidMemberID(s.ID) {
		bad("id %q is not a member id: want ^[A-Z0-9][A-Z0-9-]{1,31}$, e.g. XA-RC", s.ID)
	}
	if !countryRE.MatchString(s.Country) {
		bad("country %q is not two capital letters (ISO 3166 alpha-2, e.g. XA)", s.Country)
	}
	switch s.Role {
	case federation.RoleSociety, federation.RoleDelegation, federation.RoleCoordinator:
	default:
		bad("role %q is not society, delegation or coordinator", s.Role)
	}
	if _, _, err := endpointHostPort(s.Endpoint); err != nil {
		bad("endpoint: %v", err)
	}
	for _, h := range s.Hosts {
		if err := checkHost(h); err != nil {
			bad("host: %v", err)
		}
	}
	return errors.Join(errs...)
}

// endpointHostPort checks an https endpoint and returns its host and port
// (443 when absent).
func endpointHostPort(endpoint string) (host, port string, err error) {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("%q is not a URL", endpoint)
	case u.Scheme != "https":
		return "", "", fmt.Errorf("%q is not an https URL", endpoint)
	case u.Hostname() == "":
		return "", "", fmt.Errorf("%q has no host", endpoint)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", "", fmt.Errorf("%q must not carry user info, query or fragment", endpoint)
	}
	if err := checkHost(u.Hostname()); err != nil {
		return "", "", err
	}
	port = u.Port()
	if port == "" {
		port = "443"
	}
	return strings.ToLower(u.Hostname()), port, nil
}

func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 || !hostnameRE.MatchString(h) {
		return fmt.Errorf("%q is neither a host name nor an IP address", h)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseHosts parses --host values: each "ID=hostname", several separated by
// commas. A member may be given several names.
func ParseHosts(values []string) (map[string][]string, error) {
	out := map[string][]string{}
	var errs []error
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			id, host, ok := strings.Cut(item, "=")
			id, host = strings.TrimSpace(id), strings.TrimSpace(host)
			switch {
			case !ok || id == "" || host == "":
				errs = append(errs, fmt.Errorf("host %q: want ID=hostname, e.g. XA-RC=xa-rc.example", item))
			case !federation.ValidMemberID(id):
				errs = append(errs, fmt.Errorf("host %q: %q is not a member id", item, id))
			default:
				if err := checkHost(host); err != nil {
					errs = append(errs, fmt.Errorf("host %q: %v", item, err))
				} else if !slices.Contains(out[id], host) {
					out[id] = append(out[id], host)
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// AttachHosts adds hosts (from ParseHosts) to the specs; a host for a member
// not among specs is an error.
func AttachHosts(specs []MemberSpec, hosts map[string][]string) error {
	var errs []error
	for id, hs := range hosts {
		i := slices.IndexFunc(specs, func(s MemberSpec) bool { return s.ID == id })
		if i < 0 {
			errs = append(errs, fmt.Errorf("host for %s: no such --member", id))
			continue
		}
		for _, h := range hs {
			if !slices.Contains(specs[i].Hosts, h) {
				specs[i].Hosts = append(specs[i].Hosts, h)
			}
		}
	}
	return errors.Join(errs...)
}

// checkEndpoints refuses two members listening on the same address: the same
// host and port, or two loopback endpoints with the same port.
func checkEndpoints(endpoints map[string]string) error {
	seen := map[string]string{}
	ids := make([]string, 0, len(endpoints))
	for id := range endpoints {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var errs []error
	for _, id := range ids {
		host, port, err := endpointHostPort(endpoints[id])
		if err != nil {
			continue // reported by Validate
		}
		if isLoopback(host) {
			host = "loopback"
		}
		key := net.JoinHostPort(host, port)
		if other, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("members %s and %s: endpoints %s and %s would listen on the same address", other, id, endpoints[other], endpoints[id]))
			continue
		}
		seen[key] = id
	}
	return errors.Join(errs...)
}
