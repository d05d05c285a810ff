package schema

// Enumerations of schema v1. The constants are kept in step with the "enum"
// lists of the schema files by TestEnumsMatchSchema.

// CaseType is the type of a tracing case.
type CaseType string

// Case types.
const (
	CaseTracingRequest                 CaseType = "tracing_request"
	CaseDetentionNotification          CaseType = "detention_notification"
	CaseUnaccompaniedMinorRegistration CaseType = "unaccompanied_minor_registration"
	CaseDeathNotification              CaseType = "death_notification"
	CaseReunificationRequest           CaseType = "reunification_request"
	CaseFateClarification              CaseType = "fate_clarification"
	CaseSafeAndWell                    CaseType = "safe_and_well"
)

// CaseStatus is the status of a tracing case.
type CaseStatus string

// Case statuses.
const (
	StatusOpen                   CaseStatus = "open"
	StatusTransmitted            CaseStatus = "transmitted"
	StatusAcknowledged           CaseStatus = "acknowledged"
	StatusTracingInProgress      CaseStatus = "tracing_in_progress"
	StatusLocatedPendingConsent  CaseStatus = "located_pending_consent"
	StatusLocatedContactRestored CaseStatus = "located_contact_restored"
	StatusLocatedDeclinedContact CaseStatus = "located_declined_contact"
	StatusDeceased               CaseStatus = "deceased"
	StatusReunified              CaseStatus = "reunified"
	StatusClosedNegative         CaseStatus = "closed_negative"
	StatusClosedWithdrawn        CaseStatus = "closed_withdrawn"
)

// LegalBasisType is the kind of legal basis for processing.
type LegalBasisType string

// Legal basis types.
const (
	BasisConsent             LegalBasisType = "consent"
	BasisVitalInterest       LegalBasisType = "vital_interest"
	BasisHumanitarianMandate LegalBasisType = "humanitarian_mandate"
	BasisOtherDocumented     LegalBasisType = "other_documented"
)

// ConsentCapacity is the capacity in which a consent was given.
type ConsentCapacity string

// Consent capacities.
const (
	CapacitySelf           ConsentCapacity = "self"
	CapacityGuardian       ConsentCapacity = "guardian"
	CapacityRepresentative ConsentCapacity = "representative"
)

// ConsentForm is how a consent was recorded.
type ConsentForm string

// Consent forms.
const (
	FormWritten    ConsentForm = "written"
	FormOral       ConsentForm = "oral"
	FormElectronic ConsentForm = "electronic"
)

// MemberRole is the role of a federation member, as named in consent scopes.
type MemberRole string

// Member roles.
const (
	RoleSociety     MemberRole = "society"
	RoleDelegation  MemberRole = "delegation"
	RoleCoordinator MemberRole = "coordinator"
)

// PersonRole is the role of a person in a case.
type PersonRole string

// Person roles.
const (
	PersonEnquirer           PersonRole = "enquirer"
	PersonSought             PersonRole = "sought_person"
	PersonDetainee           PersonRole = "detainee"
	PersonFamilyMember       PersonRole = "family_member"
	PersonDeceased           PersonRole = "deceased"
	PersonCaregiver          PersonRole = "caregiver"
	PersonGuardian           PersonRole = "guardian"
	PersonUnaccompaniedChild PersonRole = "unaccompanied_child"
)

// NamePart is the part of a name a Name holds.
type NamePart string

// Name parts.
const (
	PartGiven      NamePart = "given"
	PartFamily     NamePart = "family"
	PartPatronymic NamePart = "patronymic"
	PartFull       NamePart = "full"
	PartAlias      NamePart = "alias"
	PartNickname   NamePart = "nickname"
	PartMaiden     NamePart = "maiden"
	PartFather     NamePart = "father"
	PartMother     NamePart = "mother"
)

// NameScheme is how a name was written or transliterated.
type NameScheme string

// Name schemes.
const (
	SchemeNative   NameScheme = "native"
	SchemeICAO9303 NameScheme = "icao_9303"
	SchemeISO9     NameScheme = "iso_9"
	SchemeBGNPCGN  NameScheme = "bgn_pcgn"
	SchemeAdHoc    NameScheme = "ad_hoc"
)

// Sex of a person.
type Sex string

// Sexes.
const (
	SexFemale  Sex = "female"
	SexMale    Sex = "male"
	SexOther   Sex = "other"
	SexUnknown Sex = "unknown"
)

// Vulnerability flags a person for stricter handling.
type Vulnerability string

// Vulnerabilities.
const (
	VulnUnaccompaniedMinor             Vulnerability = "unaccompanied_minor"
	VulnSeparatedChild                 Vulnerability = "separated_child"
	VulnMinor                          Vulnerability = "minor"
	VulnElderlyAlone                   Vulnerability = "elderly_alone"
	VulnWomanAtRisk                    Vulnerability = "woman_at_risk"
	VulnForeignerWithoutRepresentation Vulnerability = "foreigner_without_representation"
	VulnDisability                     Vulnerability = "disability"
	VulnMedicalCondition               Vulnerability = "medical_condition"
	VulnDetainee                       Vulnerability = "detainee"
)

// ContactPreference records whether a person agreed to be put in contact.
type ContactPreference string

// Contact preferences.
const (
	ContactNotAsked ContactPreference = "not_asked"
	ContactAgreed   ContactPreference = "agreed"
	ContactRefused  ContactPreference = "refused"
)

// SeparationCause is why a family was separated.
type SeparationCause string

// Separation causes.
const (
	CauseConflict              SeparationCause = "conflict"
	CauseDeath                 SeparationCause = "death"
	CauseFamilyViolence        SeparationCause = "family_violence"
	CauseLackOfServices        SeparationCause = "lack_of_services"
	CauseArmedGroupAssociation SeparationCause = "armed_group_association"
	CauseIllness               SeparationCause = "illness"
	CauseEntrustedToAnother    SeparationCause = "entrusted_to_another"
	CauseArrestDetention       SeparationCause = "arrest_detention"
	CauseAbandonment           SeparationCause = "abandonment"
	CauseDisaster              SeparationCause = "disaster"
	CauseMigration             SeparationCause = "migration"
	CauseOther                 SeparationCause = "other"
)

// Sensitivity marks a case as holding a special category of data.
type Sensitivity string

// Sensitivity markers.
const (
	SensitiveEthnicity        Sensitivity = "ethnicity"
	SensitiveReligion         Sensitivity = "religion"
	SensitivePoliticalOpinion Sensitivity = "political_opinion"
	SensitiveHealth           Sensitivity = "health"
	SensitiveBiometrics       Sensitivity = "biometrics"
	SensitiveSGBV             Sensitivity = "sgbv"
	SensitiveDetentionDetails Sensitivity = "detention_details"
)

// Outcome is a responder's outcome for a case.
type Outcome string

// Response outcomes.
const (
	OutcomeLocated               Outcome = "located"
	OutcomeLocatedPendingConsent Outcome = "located_pending_consent"
	OutcomeNotFound              Outcome = "not_found"
	OutcomeDeclinedContact       Outcome = "declined_contact"
	OutcomeDeceased              Outcome = "deceased"
	OutcomeTracingInProgress     Outcome = "tracing_in_progress"
	OutcomeClosed                Outcome = "closed"
)

// MessageKind is the kind of a message.
type MessageKind string

// Message kinds.
const (
	MessageRedCrossMessage MessageKind = "red_cross_message"
	MessageFamilyNews      MessageKind = "family_news"
	MessagePhoneCallRecord MessageKind = "phone_call_record"
	MessageVideo           MessageKind = "video_message"
	MessageVoice           MessageKind = "voice_message"
)

// Channel is how a message travels.
type Channel string

// Channels.
const (
	ChannelRCM    Channel = "rcm"
	ChannelPhone  Channel = "phone"
	ChannelVerbal Channel = "verbal"
	ChannelVideo  Channel = "video"
	ChannelVoice  Channel = "voice"
)

// ReviewState is the state of a message's review (a detaining authority may
// review messages).
type ReviewState string

// Review states.
const (
	ReviewNotRequired ReviewState = "not_required"
	ReviewPending     ReviewState = "pending"
	ReviewApproved    ReviewState = "approved"
	ReviewCensored    ReviewState = "censored"
)

// DeliveryState is the delivery state of a message.
type DeliveryState string

// Delivery states.
const (
	DeliveryCollected     DeliveryState = "collected"
	DeliveryTransmitted   DeliveryState = "transmitted"
	DeliveryDistributed   DeliveryState = "distributed"
	DeliveryUndeliverable DeliveryState = "undeliverable"
	DeliveryReturned      DeliveryState = "returned"
)

// WithdrawalReason is why a case (or part of it) is withdrawn.
type WithdrawalReason string

// Withdrawal reasons.
const (
	ReasonConsentWithdrawn WithdrawalReason = "consent_withdrawn"
	ReasonCaseClosed       WithdrawalReason = "case_closed"
	ReasonRetentionExpired WithdrawalReason = "retention_expired"
	ReasonErasureRequest   WithdrawalReason = "erasure_request"
)
