package schema

// Go mirrors of the schema v1 documents. Field names follow the json tags of
// the schema files exactly; TestTypesMatchSchema keeps both in step.
//
// Conventions:
//   - required members have plain json tags; optional ones are omitted when
//     absent: omitempty for strings, numbers and pointers, omitzero for
//     slices (so an empty list [] that a redactor left behind survives a
//     round trip, distinct from an absent list);
//   - optional objects, optional booleans and optional numbers for which 0
//     is a valid value are pointers, so "absent" and "zero" stay apart;
//   - dates stay strings as written ([DateTime], [Date], [PartialDate]), so
//     re-marshalling a document never rewrites them.

// Case is the body of case.create and case.update envelopes (schema
// "flx/v1/case"): one version of a tracing case.
type Case struct {
	// Schema is always "flx/v1/case".
	Schema string `json:"schema"`
	// CaseID is "<origin member>:<local id>".
	CaseID string `json:"case_id"`
	// Version counts from 1; each update sends a higher version.
	Version int        `json:"version"`
	Type    CaseType   `json:"type"`
	Status  CaseStatus `json:"status"`
	Origin  Origin     `json:"origin"`
	// UpdatedAt is when this version was made.
	UpdatedAt DateTime `json:"updated_at,omitempty"`
	// Purpose is a token such as tracing or family_reunification; policy
	// decides which purposes may leave a node.
	Purpose    string      `json:"purpose"`
	LegalBasis *LegalBasis `json:"legal_basis,omitempty"`
	Consents   []Consent   `json:"consents,omitzero"`
	// RetentionUntil is the last day the case may be kept.
	RetentionUntil Date     `json:"retention_until,omitempty"`
	Persons        []Person `json:"persons"`
	// Relationships between persons of this case.
	Relationships []Relationship `json:"relationships,omitzero"`
	Separation    *Separation    `json:"separation,omitempty"`
	// Detention details are, as a whole, the detention_details sensitive
	// category.
	Detention              *Detention              `json:"detention,omitempty"`
	Death                  *Death                  `json:"death,omitempty"`
	BestInterestAssessment *BestInterestAssessment `json:"best_interest_assessment,omitempty"`
	Risk                   *Risk                   `json:"risk,omitempty"`
	// Sensitivity marks the special categories of data the case holds.
	Sensitivity []Sensitivity `json:"sensitivity,omitzero"`
	Notes       []Note        `json:"notes,omitzero"`
	// Superseded is true on a version that is not the current one.
	Superseded *bool `json:"superseded,omitempty"`
}

// Origin records who created a case and when (provenance, always kept).
type Origin struct {
	Member          string   `json:"member"`
	LocalRef        string   `json:"local_ref,omitempty"`
	CreatedAt       DateTime `json:"created_at"`
	CreatedByOffice string   `json:"created_by_office,omitempty"`
}

// LegalBasis is the legal basis for processing the case.
type LegalBasis struct {
	Type          LegalBasisType `json:"type"`
	Justification string         `json:"justification,omitempty"`
	DocumentedBy  string         `json:"documented_by,omitempty"`
	DocumentedAt  DateTime       `json:"documented_at,omitempty"`
	// AppliesTo lists the person ids the basis covers (addition to the
	// contract); absent means the persons not covered by a consent.
	AppliesTo []string `json:"applies_to,omitzero"`
}

// Consent is a consent record.
type Consent struct {
	ID string `json:"id"`
	// GivenBy is the id of the person (in this case) who gave the consent.
	GivenBy string `json:"given_by"`
	// OnBehalfOf is the id of the person the consent concerns when
	// Capacity is guardian or representative (addition to the contract).
	OnBehalfOf  string          `json:"on_behalf_of,omitempty"`
	Capacity    ConsentCapacity `json:"capacity,omitempty"`
	Scope       *ConsentScope   `json:"scope,omitempty"`
	GivenAt     DateTime        `json:"given_at,omitempty"`
	WithdrawnAt DateTime        `json:"withdrawn_at,omitempty"`
	Form        ConsentForm     `json:"form,omitempty"`
}

// Withdrawn reports whether the consent has been withdrawn.
func (c Consent) Withdrawn() bool { return c.WithdrawnAt != "" }

// ConsentScope is what a consent covers.
type ConsentScope struct {
	// Uses are purpose-like tokens: tracing, transfer, publication,
	// family_news, ...
	Uses      []string     `json:"uses,omitzero"`
	Members   []string     `json:"members,omitzero"`
	Countries []string     `json:"countries,omitzero"`
	Roles     []MemberRole `json:"roles,omitzero"`
	// NonMovement: the consent also covers recipients outside the Movement.
	NonMovement *bool `json:"non_movement,omitempty"`
}

// Person is a person in a case. Only ID is required.
type Person struct {
	ID                string             `json:"id"`
	Roles             []PersonRole       `json:"roles,omitzero"`
	Names             []Name             `json:"names,omitzero"`
	Sex               Sex                `json:"sex,omitempty"`
	BirthDate         PartialDate        `json:"birth_date,omitempty"`
	Age               *Age               `json:"age,omitempty"`
	PlaceOfBirth      *Place             `json:"place_of_birth,omitempty"`
	Nationalities     []string           `json:"nationalities,omitzero"`
	Address           *Place             `json:"address,omitempty"`
	LastKnownLocation *LastKnownLocation `json:"last_known_location,omitempty"`
	Contact           *Contact           `json:"contact,omitempty"`
	Photo             *MediaRef          `json:"photo,omitempty"`
	Vulnerabilities   []Vulnerability    `json:"vulnerabilities,omitzero"`
	Sensitive         *Sensitive         `json:"sensitive,omitempty"`
	ContactPreference ContactPreference  `json:"contact_preference,omitempty"`
	// Guardian is the id of this person's guardian in the case.
	Guardian        string   `json:"guardian,omitempty"`
	FearedCountries []string `json:"feared_countries,omitzero"`
}

// HasRole reports whether p has role r.
func (p *Person) HasRole(r PersonRole) bool {
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// HasVulnerability reports whether p is flagged with v.
func (p *Person) HasVulnerability(v Vulnerability) bool {
	for _, x := range p.Vulnerabilities {
		if x == v {
			return true
		}
	}
	return false
}

// Name is one written form of one part of a name.
type Name struct {
	Value string   `json:"value"`
	Part  NamePart `json:"part,omitempty"`
	// Script is an ISO 15924 code: Latn, Cyrl, Armn, Arab, ...
	Script string `json:"script,omitempty"`
	// Lang is a BCP 47 tag.
	Lang   string     `json:"lang,omitempty"`
	Scheme NameScheme `json:"scheme,omitempty"`
}

// Age is an age range in years.
type Age struct {
	Min *int `json:"min,omitempty"`
	Max *int `json:"max,omitempty"`
	// AsOf is when the age was estimated (addition to the contract).
	AsOf PartialDate `json:"as_of,omitempty"`
}

// Place is a place, as precise as known.
type Place struct {
	Country     string `json:"country,omitempty"`
	AdminArea   string `json:"admin_area,omitempty"`
	Locality    string `json:"locality,omitempty"`
	AddressLine string `json:"address_line,omitempty"`
	Description string `json:"description,omitempty"`
	Geo         *Geo   `json:"geo,omitempty"`
}

// Geo is a WGS 84 position.
type Geo struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// LastKnownLocation is where and when a person was last known to be.
type LastKnownLocation struct {
	Place *Place      `json:"place,omitempty"`
	Date  PartialDate `json:"date,omitempty"`
}

// Contact is how to reach a person.
type Contact struct {
	Phones  []string `json:"phones,omitzero"`
	Emails  []string `json:"emails,omitzero"`
	Address *Place   `json:"address,omitempty"`
}

// MediaRef references media content (photo, video, voice) held outside the
// document by its SHA-256.
type MediaRef struct {
	SHA256          string   `json:"sha256"`
	MediaType       string   `json:"media_type"`
	SizeBytes       int64    `json:"size_bytes,omitempty"`
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	// URI is informative only: an https URL, never fetched by a receiver.
	URI string `json:"uri,omitempty"`
	// ChunkBytes and ChunksSHA256 (SPEC §18) make the reference carry the
	// bytes over the federation: every chunk of ChunkBytes (the last may be
	// shorter) is verified against ChunksSHA256, the SHA-256 of the
	// concatenated 32-byte digests of the chunks in order.
	ChunkBytes   int64  `json:"chunk_bytes,omitempty"`
	ChunksSHA256 string `json:"chunks_sha256,omitempty"`
}

// Sensitive holds special-category data about a person.
type Sensitive struct {
	Ethnicity        string `json:"ethnicity,omitempty"`
	Religion         string `json:"religion,omitempty"`
	PoliticalOpinion string `json:"political_opinion,omitempty"`
	Health           string `json:"health,omitempty"`
	Biometrics       string `json:"biometrics,omitempty"`
	SGBV             string `json:"sgbv,omitempty"`
}

// Relationship says that From is the Type of To (e.g. From=mother,
// Type=mother, To=child).
type Relationship struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Type     string `json:"type"`
	Verified *bool  `json:"verified,omitempty"`
}

// Separation describes how a family was separated.
type Separation struct {
	Date  PartialDate     `json:"date,omitempty"`
	Place *Place          `json:"place,omitempty"`
	Cause SeparationCause `json:"cause,omitempty"`
}

// Detention holds detention details.
type Detention struct {
	Place         *Place      `json:"place,omitempty"`
	Authority     string      `json:"authority,omitempty"`
	DetainedSince PartialDate `json:"detained_since,omitempty"`
	Status        string      `json:"status,omitempty"`
	// NotificationAgreed: the detainee agreed that the family be notified.
	NotificationAgreed *bool `json:"notification_agreed,omitempty"`
}

// Death holds what is known of a death.
type Death struct {
	Date            PartialDate `json:"date,omitempty"`
	Place           *Place      `json:"place,omitempty"`
	Cause           string      `json:"cause,omitempty"`
	RemainsLocation *Place      `json:"remains_location,omitempty"`
}

// BestInterestAssessment records a best-interest assessment for a child.
type BestInterestAssessment struct {
	DoneAt  DateTime `json:"done_at,omitempty"`
	By      string   `json:"by,omitempty"`
	Outcome string   `json:"outcome,omitempty"`
}

// Risk records countries that put persons of the case at risk.
type Risk struct {
	FearedCountries   []string `json:"feared_countries,omitzero"`
	PartiesToConflict []string `json:"parties_to_conflict,omitzero"`
	Notes             string   `json:"notes,omitempty"`
}

// Note is a caseworker note.
type Note struct {
	Text         string   `json:"text"`
	AuthorMember string   `json:"author_member,omitempty"`
	At           DateTime `json:"at,omitempty"`
}

// Response is the body of a case.response envelope (schema
// "flx/v1/response"): a recipient's outcome for a case.
type Response struct {
	Schema           string   `json:"schema"`
	CaseID           string   `json:"case_id"`
	Responder        string   `json:"responder"`
	Outcome          Outcome  `json:"outcome"`
	RespondedAt      DateTime `json:"responded_at"`
	InReplyToVersion int      `json:"in_reply_to_version,omitempty"`
	SoughtPerson     string   `json:"sought_person,omitempty"`
	Location         *Place   `json:"location,omitempty"`
	Contact          *Contact `json:"contact,omitempty"`
	// Message is text the sought person agreed to pass on.
	Message string `json:"message,omitempty"`
	Notes   []Note `json:"notes,omitzero"`
}

// Message is the body of a message.deliver envelope (schema
// "flx/v1/message").
type Message struct {
	Schema    string      `json:"schema"`
	MessageID string      `json:"message_id"`
	CaseID    string      `json:"case_id"`
	Kind      MessageKind `json:"kind"`
	Channel   Channel     `json:"channel"`
	CreatedAt DateTime    `json:"created_at"`
	From      *Party      `json:"from,omitempty"`
	To        *Party      `json:"to,omitempty"`
	// Body is family news; required for red_cross_message and family_news.
	Body string `json:"body,omitempty"`
	// Lang is the BCP 47 language of Body (addition to the contract).
	Lang     string    `json:"lang,omitempty"`
	ReplyTo  string    `json:"reply_to,omitempty"`
	Review   *Review   `json:"review,omitempty"`
	Delivery *Delivery `json:"delivery,omitempty"`
	Call     *Call     `json:"call,omitempty"`
	// Media is required, with size and duration, for video_message and
	// voice_message.
	Media *MediaRef `json:"media,omitempty"`
}

// Party is the sender or addressee of a message.
type Party struct {
	Person string `json:"person,omitempty"`
	Name   string `json:"name,omitempty"`
	Member string `json:"member,omitempty"`
	// Address is where a Red Cross message is to be distributed (addition
	// to the contract).
	Address *Place `json:"address,omitempty"`
}

// Review is the review state of a message.
type Review struct {
	State ReviewState `json:"state,omitempty"`
	By    string      `json:"by,omitempty"`
}

// Delivery is the delivery state of a message.
type Delivery struct {
	State DeliveryState `json:"state,omitempty"`
	At    DateTime      `json:"at,omitempty"`
}

// Call records a phone call.
type Call struct {
	StartedAt       DateTime `json:"started_at,omitempty"`
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
}

// Withdrawal is the body of a case.withdraw envelope (schema
// "flx/v1/withdrawal").
type Withdrawal struct {
	Schema      string           `json:"schema"`
	CaseID      string           `json:"case_id"`
	Reason      WithdrawalReason `json:"reason"`
	WithdrawnAt DateTime         `json:"withdrawn_at"`
	// PersonIDs are the persons concerned; absent means the whole case.
	PersonIDs []string `json:"person_ids,omitzero"`
	// ConsentIDs are the consent records withdrawn (addition to the
	// contract).
	ConsentIDs []string `json:"consent_ids,omitzero"`
	// Erase: recipients erase what they hold; absent means true (see
	// ShouldErase).
	Erase *bool  `json:"erase,omitempty"`
	Note  string `json:"note,omitempty"`
	// Confirms is set on a confirmation sent back to the origin: the jti of
	// the withdrawal envelope confirmed. A withdrawal without it is a request
	// to erase.
	Confirms string `json:"confirms,omitempty"`
	// ErasedAt is when the recipient completed the erasure (with Confirms).
	ErasedAt DateTime `json:"erased_at,omitempty"`
}

// IsConfirmation reports whether w confirms an earlier withdrawal.
func (w *Withdrawal) IsConfirmation() bool { return w.Confirms != "" }

// ShouldErase reports whether recipients must erase: Erase, defaulting to
// true.
func (w *Withdrawal) ShouldErase() bool { return w.Erase == nil || *w.Erase }

// WholeCase reports whether the withdrawal concerns the whole case.
func (w *Withdrawal) WholeCase() bool { return len(w.PersonIDs) == 0 }
