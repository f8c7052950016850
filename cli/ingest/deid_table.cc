#include "cli/ingest/deid_table.h"

#include <algorithm>
#include <vector>

namespace medfs::ingest {
namespace {

constexpr DeidAction D = DeidAction::kD;
constexpr DeidAction Z = DeidAction::kZ;
constexpr DeidAction X = DeidAction::kX;
constexpr DeidAction U = DeidAction::kU;
constexpr bool PC = true;   // kept under Retain Patient Characteristics
constexpr bool NO = false;

// Table E.1-1, Basic Profile column; the comment shows the table's
// original compound action where it was resolved (see deid_table.h).
constexpr DeidTableEntry kTable[] = {
    {0x0000, 0x1000, X, NO, "AffectedSOPInstanceUID"},
    {0x0000, 0x1001, U, NO, "RequestedSOPInstanceUID"},
    {0x0002, 0x0003, U, NO, "MediaStorageSOPInstanceUID"},
    {0x0004, 0x1511, U, NO, "ReferencedSOPInstanceUIDInFile"},
    {0x0008, 0x0012, D, NO, "InstanceCreationDate"},          // X/D
    {0x0008, 0x0013, D, NO, "InstanceCreationTime"},          // X/Z/D
    {0x0008, 0x0014, U, NO, "InstanceCreatorUID"},
    {0x0008, 0x0015, X, NO, "InstanceCoercionDateTime"},
    {0x0008, 0x0017, U, NO, "AcquisitionUID"},
    {0x0008, 0x0018, U, NO, "SOPInstanceUID"},
    {0x0008, 0x0020, Z, NO, "StudyDate"},
    {0x0008, 0x0021, D, NO, "SeriesDate"},                    // X/D
    {0x0008, 0x0022, Z, NO, "AcquisitionDate"},               // X/Z
    {0x0008, 0x0023, D, NO, "ContentDate"},                   // Z/D
    {0x0008, 0x0024, X, NO, "OverlayDate"},
    {0x0008, 0x0025, X, NO, "CurveDate"},
    {0x0008, 0x002A, D, NO, "AcquisitionDateTime"},           // X/D
    {0x0008, 0x0030, Z, NO, "StudyTime"},
    {0x0008, 0x0031, D, NO, "SeriesTime"},                    // X/D
    {0x0008, 0x0032, Z, NO, "AcquisitionTime"},               // X/Z
    {0x0008, 0x0033, D, NO, "ContentTime"},                   // Z/D
    {0x0008, 0x0034, X, NO, "OverlayTime"},
    {0x0008, 0x0035, X, NO, "CurveTime"},
    {0x0008, 0x0050, Z, NO, "AccessionNumber"},
    {0x0008, 0x0058, U, NO, "FailedSOPInstanceUIDList"},
    {0x0008, 0x0080, D, NO, "InstitutionName"},               // X/Z/D
    {0x0008, 0x0081, X, NO, "InstitutionAddress"},
    {0x0008, 0x0082, D, NO, "InstitutionCodeSequence"},       // X/Z/D
    {0x0008, 0x0090, Z, NO, "ReferringPhysicianName"},
    {0x0008, 0x0092, X, NO, "ReferringPhysicianAddress"},
    {0x0008, 0x0094, X, NO, "ReferringPhysicianTelephoneNumbers"},
    {0x0008, 0x0096, X, NO, "ReferringPhysicianIdentificationSequence"},
    {0x0008, 0x009C, Z, NO, "ConsultingPhysicianName"},       // X/Z
    {0x0008, 0x009D, X, NO, "ConsultingPhysicianIdentificationSequence"},
    {0x0008, 0x010D, U, NO, "ContextGroupExtensionCreatorUID"},
    {0x0008, 0x0201, X, NO, "TimezoneOffsetFromUTC"},
    {0x0008, 0x1010, D, NO, "StationName"},                   // X/Z/D
    {0x0008, 0x1030, X, NO, "StudyDescription"},
    {0x0008, 0x103E, X, NO, "SeriesDescription"},
    {0x0008, 0x1040, X, NO, "InstitutionalDepartmentName"},
    {0x0008, 0x1041, X, NO, "InstitutionalDepartmentTypeCodeSequence"},
    {0x0008, 0x1048, X, NO, "PhysiciansOfRecord"},
    {0x0008, 0x1049, X, NO, "PhysiciansOfRecordIdentificationSequence"},
    {0x0008, 0x1050, X, NO, "PerformingPhysicianName"},
    {0x0008, 0x1052, X, NO, "PerformingPhysicianIdentificationSequence"},
    {0x0008, 0x1060, X, NO, "NameOfPhysiciansReadingStudy"},
    {0x0008, 0x1062, X, NO, "PhysiciansReadingStudyIdentificationSequence"},
    {0x0008, 0x1070, D, NO, "OperatorsName"},                 // X/Z/D
    {0x0008, 0x1072, D, NO, "OperatorIdentificationSequence"},  // X/D
    {0x0008, 0x1080, X, NO, "AdmittingDiagnosesDescription"},
    {0x0008, 0x1084, X, NO, "AdmittingDiagnosesCodeSequence"},
    {0x0008, 0x1110, Z, NO, "ReferencedStudySequence"},       // X/Z
    {0x0008, 0x1111, D, NO, "ReferencedPerformedProcedureStepSequence"},
    {0x0008, 0x1120, X, NO, "ReferencedPatientSequence"},
    {0x0008, 0x1140, U, NO, "ReferencedImageSequence"},       // X/Z/U*
    {0x0008, 0x1155, U, NO, "ReferencedSOPInstanceUID"},
    {0x0008, 0x1195, U, NO, "TransactionUID"},
    {0x0008, 0x2111, X, NO, "DerivationDescription"},
    {0x0008, 0x2112, U, NO, "SourceImageSequence"},           // X/Z/U*
    {0x0008, 0x3010, U, NO, "IrradiationEventUID"},
    {0x0008, 0x4000, X, NO, "IdentifyingComments"},
    {0x0008, 0x9123, U, NO, "CreatorVersionUID"},
    {0x0010, 0x0010, Z, NO, "PatientName"},
    {0x0010, 0x0020, Z, NO, "PatientID"},
    {0x0010, 0x0021, X, NO, "IssuerOfPatientID"},
    {0x0010, 0x0030, Z, NO, "PatientBirthDate"},
    {0x0010, 0x0032, X, NO, "PatientBirthTime"},
    {0x0010, 0x0035, X, NO, "PatientBirthDateInAlternativeCalendar"},
    {0x0010, 0x0036, X, NO, "PatientDeathDateInAlternativeCalendar"},
    {0x0010, 0x0037, X, NO, "PatientAlternativeCalendar"},
    {0x0010, 0x0040, Z, PC, "PatientSex"},
    {0x0010, 0x0050, X, NO, "PatientInsurancePlanCodeSequence"},
    {0x0010, 0x0101, X, NO, "PatientPrimaryLanguageCodeSequence"},
    {0x0010, 0x0102, X, NO, "PatientPrimaryLanguageModifierCodeSequence"},
    {0x0010, 0x1000, X, NO, "OtherPatientIDs"},
    {0x0010, 0x1001, X, NO, "OtherPatientNames"},
    {0x0010, 0x1002, X, NO, "OtherPatientIDsSequence"},
    {0x0010, 0x1005, X, NO, "PatientBirthName"},
    {0x0010, 0x1010, X, PC, "PatientAge"},
    {0x0010, 0x1020, X, PC, "PatientSize"},
    {0x0010, 0x1021, X, PC, "PatientSizeCodeSequence"},
    {0x0010, 0x1030, X, PC, "PatientWeight"},
    {0x0010, 0x1040, X, NO, "PatientAddress"},
    {0x0010, 0x1050, X, NO, "InsurancePlanIdentification"},
    {0x0010, 0x1060, X, NO, "PatientMotherBirthName"},
    {0x0010, 0x1080, X, NO, "MilitaryRank"},
    {0x0010, 0x1081, X, NO, "BranchOfService"},
    {0x0010, 0x1090, X, NO, "MedicalRecordLocator"},
    {0x0010, 0x1100, X, NO, "ReferencedPatientPhotoSequence"},
    {0x0010, 0x2000, X, NO, "MedicalAlerts"},
    {0x0010, 0x2110, X, NO, "Allergies"},
    {0x0010, 0x2150, X, NO, "CountryOfResidence"},
    {0x0010, 0x2152, X, NO, "RegionOfResidence"},
    {0x0010, 0x2154, X, NO, "PatientTelephoneNumbers"},
    {0x0010, 0x2155, X, NO, "PatientTelecomInformation"},
    {0x0010, 0x2160, X, PC, "EthnicGroup"},
    {0x0010, 0x2180, X, NO, "Occupation"},
    {0x0010, 0x21A0, X, PC, "SmokingStatus"},
    {0x0010, 0x21B0, X, NO, "AdditionalPatientHistory"},
    {0x0010, 0x21C0, X, PC, "PregnancyStatus"},
    {0x0010, 0x21D0, X, NO, "LastMenstrualDate"},
    {0x0010, 0x21F0, X, NO, "PatientReligiousPreference"},
    {0x0010, 0x2203, Z, PC, "PatientSexNeutered"},            // X/Z
    {0x0010, 0x2297, X, NO, "ResponsiblePerson"},
    {0x0010, 0x2299, X, NO, "ResponsibleOrganization"},
    {0x0010, 0x4000, X, NO, "PatientComments"},
    {0x0016, 0x004D, X, NO, "CameraOwnerName"},
    {0x0018, 0x0010, D, NO, "ContrastBolusAgent"},            // Z/D
    {0x0018, 0x1000, D, NO, "DeviceSerialNumber"},            // X/Z/D
    {0x0018, 0x1002, U, NO, "DeviceUID"},
    {0x0018, 0x1004, X, NO, "PlateID"},
    {0x0018, 0x1005, X, NO, "GeneratorID"},
    {0x0018, 0x1007, X, NO, "CassetteID"},
    {0x0018, 0x1008, X, NO, "GantryID"},
    {0x0018, 0x1009, X, NO, "UniqueDeviceIdentifier"},
    {0x0018, 0x100A, X, NO, "UDISequence"},
    {0x0018, 0x1012, X, NO, "DateOfSecondaryCapture"},
    {0x0018, 0x1014, X, NO, "TimeOfSecondaryCapture"},
    {0x0018, 0x1030, D, NO, "ProtocolName"},                  // X/D
    {0x0018, 0x1072, D, NO, "RadiopharmaceuticalStartTime"},  // X/D
    {0x0018, 0x1073, D, NO, "RadiopharmaceuticalStopTime"},   // X/D
    {0x0018, 0x1078, D, NO, "RadiopharmaceuticalStartDateTime"},  // X/D
    {0x0018, 0x1079, D, NO, "RadiopharmaceuticalStopDateTime"},   // X/D
    {0x0018, 0x1200, X, NO, "DateOfLastCalibration"},
    {0x0018, 0x1201, X, NO, "TimeOfLastCalibration"},
    {0x0018, 0x1400, D, NO, "AcquisitionDeviceProcessingDescription"},
    {0x0018, 0x4000, X, NO, "AcquisitionComments"},
    {0x0018, 0x700A, D, NO, "DetectorID"},                    // X/D
    {0x0018, 0x700C, X, NO, "DateOfLastDetectorCalibration"},
    {0x0018, 0x700E, X, NO, "TimeOfLastDetectorCalibration"},
    {0x0018, 0x9074, D, NO, "FrameAcquisitionDateTime"},      // X/D
    {0x0018, 0x9151, D, NO, "FrameReferenceDateTime"},        // X/D
    {0x0018, 0x9424, X, NO, "AcquisitionProtocolDescription"},
    {0x0018, 0x9516, D, NO, "StartAcquisitionDateTime"},      // X/D
    {0x0018, 0x9517, D, NO, "EndAcquisitionDateTime"},        // X/D
    {0x0018, 0xA003, X, NO, "ContributionDescription"},
    {0x0020, 0x000D, U, NO, "StudyInstanceUID"},
    {0x0020, 0x000E, U, NO, "SeriesInstanceUID"},
    {0x0020, 0x0010, Z, NO, "StudyID"},
    {0x0020, 0x0052, U, NO, "FrameOfReferenceUID"},
    {0x0020, 0x0200, U, NO, "SynchronizationFrameOfReferenceUID"},
    {0x0020, 0x3401, X, NO, "ModifyingDeviceID"},
    {0x0020, 0x3404, X, NO, "ModifyingDeviceManufacturer"},
    {0x0020, 0x3406, X, NO, "ModifiedImageDescription"},
    {0x0020, 0x4000, X, NO, "ImageComments"},
    {0x0020, 0x9158, X, NO, "FrameComments"},
    {0x0020, 0x9161, U, NO, "ConcatenationUID"},
    {0x0020, 0x9164, U, NO, "DimensionOrganizationUID"},
    {0x0028, 0x1199, U, NO, "PaletteColorLookupTableUID"},
    {0x0028, 0x1214, U, NO, "LargePaletteColorLookupTableUID"},
    {0x0028, 0x4000, X, NO, "ImagePresentationComments"},
    {0x0032, 0x0012, X, NO, "StudyIDIssuer"},
    {0x0032, 0x1020, X, NO, "ScheduledStudyLocation"},
    {0x0032, 0x1021, X, NO, "ScheduledStudyLocationAETitle"},
    {0x0032, 0x1030, X, NO, "ReasonForStudy"},
    {0x0032, 0x1031, X, NO, "RequestingPhysicianIdentificationSequence"},
    {0x0032, 0x1032, X, NO, "RequestingPhysician"},
    {0x0032, 0x1033, X, NO, "RequestingService"},
    {0x0032, 0x1060, Z, NO, "RequestedProcedureDescription"},  // X/Z
    {0x0032, 0x1070, X, NO, "RequestedContrastAgent"},
    {0x0032, 0x4000, X, NO, "StudyComments"},
    {0x0038, 0x0004, X, NO, "ReferencedPatientAliasSequence"},
    {0x0038, 0x0010, X, NO, "AdmissionID"},
    {0x0038, 0x0011, X, NO, "IssuerOfAdmissionID"},
    {0x0038, 0x0014, X, NO, "IssuerOfAdmissionIDSequence"},
    {0x0038, 0x001E, X, NO, "ScheduledPatientInstitutionResidence"},
    {0x0038, 0x0020, X, NO, "AdmittingDate"},
    {0x0038, 0x0021, X, NO, "AdmittingTime"},
    {0x0038, 0x0040, X, NO, "DischargeDiagnosisDescription"},
    {0x0038, 0x0050, X, NO, "SpecialNeeds"},
    {0x0038, 0x0060, X, NO, "ServiceEpisodeID"},
    {0x0038, 0x0061, X, NO, "IssuerOfServiceEpisodeID"},
    {0x0038, 0x0062, X, NO, "ServiceEpisodeDescription"},
    {0x0038, 0x0064, X, NO, "IssuerOfServiceEpisodeIDSequence"},
    {0x0038, 0x0300, X, NO, "CurrentPatientLocation"},
    {0x0038, 0x0400, X, NO, "PatientInstitutionResidence"},
    {0x0038, 0x0500, X, NO, "PatientState"},
    {0x0038, 0x4000, X, NO, "VisitComments"},
    {0x0040, 0x0001, X, NO, "ScheduledStationAETitle"},
    {0x0040, 0x0002, X, NO, "ScheduledProcedureStepStartDate"},
    {0x0040, 0x0003, X, NO, "ScheduledProcedureStepStartTime"},
    {0x0040, 0x0004, X, NO, "ScheduledProcedureStepEndDate"},
    {0x0040, 0x0005, X, NO, "ScheduledProcedureStepEndTime"},
    {0x0040, 0x0006, X, NO, "ScheduledPerformingPhysicianName"},
    {0x0040, 0x0007, X, NO, "ScheduledProcedureStepDescription"},
    {0x0040, 0x000B, X, NO,
     "ScheduledPerformingPhysicianIdentificationSequence"},
    {0x0040, 0x0010, X, NO, "ScheduledStationName"},
    {0x0040, 0x0011, X, NO, "ScheduledProcedureStepLocation"},
    {0x0040, 0x0012, X, NO, "PreMedication"},
    {0x0040, 0x0241, X, NO, "PerformedStationAETitle"},
    {0x0040, 0x0242, X, NO, "PerformedStationName"},
    {0x0040, 0x0243, X, NO, "PerformedLocation"},
    {0x0040, 0x0244, X, NO, "PerformedProcedureStepStartDate"},
    {0x0040, 0x0245, X, NO, "PerformedProcedureStepStartTime"},
    {0x0040, 0x0250, X, NO, "PerformedProcedureStepEndDate"},
    {0x0040, 0x0251, X, NO, "PerformedProcedureStepEndTime"},
    {0x0040, 0x0253, X, NO, "PerformedProcedureStepID"},
    {0x0040, 0x0254, X, NO, "PerformedProcedureStepDescription"},
    {0x0040, 0x0275, X, NO, "RequestAttributesSequence"},
    {0x0040, 0x0280, X, NO, "CommentsOnThePerformedProcedureStep"},
    {0x0040, 0x0512, D, NO, "ContainerIdentifier"},
    {0x0040, 0x050A, X, NO, "SpecimenAccessionNumber"},
    {0x0040, 0x0551, D, NO, "SpecimenIdentifier"},
    {0x0040, 0x0554, U, NO, "SpecimenUID"},
    {0x0040, 0x0555, X, NO, "AcquisitionContextSequence"},
    {0x0040, 0x0562, X, NO, "IssuerOfTheSpecimenIdentifierSequence"},
    {0x0040, 0x0600, X, NO, "SpecimenShortDescription"},
    {0x0040, 0x0602, X, NO, "SpecimenDetailedDescription"},
    {0x0040, 0x1001, X, NO, "RequestedProcedureID"},
    {0x0040, 0x1004, X, NO, "PatientTransportArrangements"},
    {0x0040, 0x1005, X, NO, "RequestedProcedureLocation"},
    {0x0040, 0x1010, X, NO, "NamesOfIntendedRecipientsOfResults"},
    {0x0040, 0x1011, X, NO,
     "IntendedRecipientsOfResultsIdentificationSequence"},
    {0x0040, 0x1101, D, NO, "PersonIdentificationCodeSequence"},
    {0x0040, 0x1102, X, NO, "PersonAddress"},
    {0x0040, 0x1103, X, NO, "PersonTelephoneNumbers"},
    {0x0040, 0x1104, X, NO, "PersonTelecomInformation"},
    {0x0040, 0x1400, X, NO, "RequestedProcedureComments"},
    {0x0040, 0x2001, X, NO, "ReasonForTheImagingServiceRequest"},
    {0x0040, 0x2008, X, NO, "OrderEnteredBy"},
    {0x0040, 0x2009, X, NO, "OrderEntererLocation"},
    {0x0040, 0x2010, X, NO, "OrderCallbackPhoneNumber"},
    {0x0040, 0x2011, X, NO, "OrderCallbackTelecomInformation"},
    {0x0040, 0x2016, Z, NO, "PlacerOrderNumberImagingServiceRequest"},
    {0x0040, 0x2017, Z, NO, "FillerOrderNumberImagingServiceRequest"},
    {0x0040, 0x2400, X, NO, "ImagingServiceRequestComments"},
    {0x0040, 0x3001, X, NO, "ConfidentialityConstraintOnPatientDataDescription"},
    {0x0040, 0x4005, X, NO, "ScheduledProcedureStepStartDateTime"},
    {0x0040, 0x4010, X, NO, "ScheduledProcedureStepModificationDateTime"},
    {0x0040, 0x4011, X, NO, "ExpectedCompletionDateTime"},
    {0x0040, 0x4023, U, NO,
     "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID"},
    {0x0040, 0x4025, X, NO, "ScheduledStationNameCodeSequence"},
    {0x0040, 0x4027, X, NO, "ScheduledStationGeographicLocationCodeSequence"},
    {0x0040, 0x4028, X, NO, "PerformedStationNameCodeSequence"},
    {0x0040, 0x4030, X, NO, "PerformedStationGeographicLocationCodeSequence"},
    {0x0040, 0x4034, X, NO, "ScheduledHumanPerformersSequence"},
    {0x0040, 0x4035, X, NO, "ActualHumanPerformersSequence"},
    {0x0040, 0x4036, X, NO, "HumanPerformerOrganization"},
    {0x0040, 0x4037, X, NO, "HumanPerformerName"},
    {0x0040, 0x4050, X, NO, "PerformedProcedureStepStartDateTime"},
    {0x0040, 0x4051, X, NO, "PerformedProcedureStepEndDateTime"},
    {0x0040, 0x4052, X, NO, "ProcedureStepCancellationDateTime"},
    {0x0040, 0xA027, X, NO, "VerifyingOrganization"},
    {0x0040, 0xA030, D, NO, "VerificationDateTime"},
    {0x0040, 0xA032, D, NO, "ObservationDateTime"},           // X/D
    {0x0040, 0xA073, D, NO, "VerifyingObserverSequence"},
    {0x0040, 0xA075, D, NO, "VerifyingObserverName"},
    {0x0040, 0xA078, X, NO, "AuthorObserverSequence"},
    {0x0040, 0xA07A, X, NO, "ParticipantSequence"},
    {0x0040, 0xA07C, X, NO, "CustodialOrganizationSequence"},
    {0x0040, 0xA088, Z, NO, "VerifyingObserverIdentificationCodeSequence"},
    {0x0040, 0xA120, D, NO, "DateTime"},
    {0x0040, 0xA121, D, NO, "Date"},
    {0x0040, 0xA122, D, NO, "Time"},
    {0x0040, 0xA123, D, NO, "PersonName"},
    {0x0040, 0xA124, U, NO, "UID"},
    {0x0040, 0xA171, U, NO, "ObservationUID"},
    {0x0040, 0xA172, U, NO, "ReferencedObservationUIDTrial"},
    {0x0040, 0xA192, X, NO, "ObservationDateTrial"},
    {0x0040, 0xA193, X, NO, "ObservationTimeTrial"},
    {0x0040, 0xA353, X, NO, "AddressTrial"},
    {0x0040, 0xA354, X, NO, "TelephoneNumberTrial"},
    {0x0040, 0xA730, X, NO, "ContentSequence"},
    {0x0040, 0xDB0C, U, NO, "TemplateExtensionOrganizationUID"},
    {0x0040, 0xDB0D, U, NO, "TemplateExtensionCreatorUID"},
    {0x0050, 0x0020, X, NO, "DeviceDescription"},
    {0x0070, 0x0001, D, NO, "GraphicAnnotationSequence"},
    {0x0070, 0x0084, Z, NO, "ContentCreatorName"},
    {0x0070, 0x0086, X, NO, "ContentCreatorIdentificationCodeSequence"},
    {0x0070, 0x031A, U, NO, "FiducialUID"},
    {0x0088, 0x0140, U, NO, "StorageMediaFileSetUID"},
    {0x0088, 0x0200, X, NO, "IconImageSequence"},
    {0x0088, 0x0904, X, NO, "TopicTitle"},
    {0x0088, 0x0906, X, NO, "TopicSubject"},
    {0x0088, 0x0910, X, NO, "TopicAuthor"},
    {0x0088, 0x0912, X, NO, "TopicKeywords"},
    {0x0400, 0x0100, X, NO, "DigitalSignatureUID"},
    {0x0400, 0x0402, X, NO, "ReferencedDigitalSignatureSequence"},
    {0x0400, 0x0403, X, NO, "ReferencedSOPInstanceMACSequence"},
    {0x0400, 0x0404, X, NO, "MAC"},
    {0x0400, 0x0550, X, NO, "ModifiedAttributesSequence"},
    {0x0400, 0x0561, X, NO, "OriginalAttributesSequence"},
    {0x2030, 0x0020, X, NO, "TextString"},
    {0x3006, 0x0024, U, NO, "ReferencedFrameOfReferenceUID"},
    {0x3006, 0x00C2, U, NO, "RelatedFrameOfReferenceUID"},
    {0x300A, 0x0013, U, NO, "DoseReferenceUID"},
    {0x300E, 0x0008, Z, NO, "ReviewerName"},                  // X/Z
    {0x4000, 0x0010, X, NO, "Arbitrary"},
    {0x4000, 0x4000, X, NO, "TextComments"},
    {0x4008, 0x0042, X, NO, "ResultsIDIssuer"},
    {0x4008, 0x0102, X, NO, "InterpretationRecorder"},
    {0x4008, 0x010A, X, NO, "InterpretationTranscriber"},
    {0x4008, 0x010B, X, NO, "InterpretationText"},
    {0x4008, 0x010C, X, NO, "InterpretationAuthor"},
    {0x4008, 0x0111, X, NO, "InterpretationApproverSequence"},
    {0x4008, 0x0114, X, NO, "PhysicianApprovingInterpretation"},
    {0x4008, 0x0115, X, NO, "InterpretationDiagnosisDescription"},
    {0x4008, 0x0118, X, NO, "ResultsDistributionListSequence"},
    {0x4008, 0x0119, X, NO, "DistributionName"},
    {0x4008, 0x011A, X, NO, "DistributionAddress"},
    {0x4008, 0x0202, X, NO, "InterpretationIDIssuer"},
    {0x4008, 0x0300, X, NO, "Impressions"},
    {0x4008, 0x4000, X, NO, "ResultsComments"},
    {0xFFFA, 0xFFFA, X, NO, "DigitalSignaturesSequence"},
    {0xFFFC, 0xFFFC, X, NO, "DataSetTrailingPadding"},
};

uint32_t Key(uint16_t group, uint16_t element) {
  return (static_cast<uint32_t>(group) << 16) | element;
}

const std::vector<DeidTableEntry>& Sorted() {
  static const std::vector<DeidTableEntry>* sorted = [] {
    auto* v = new std::vector<DeidTableEntry>(std::begin(kTable),
                                              std::end(kTable));
    std::sort(v->begin(), v->end(), [](const auto& a, const auto& b) {
      return Key(a.group, a.element) < Key(b.group, b.element);
    });
    return v;
  }();
  return *sorted;
}

}  // namespace

std::span<const DeidTableEntry> DeidTable() { return Sorted(); }

const DeidTableEntry* FindDeidEntry(uint16_t group, uint16_t element) {
  const auto& table = Sorted();
  uint32_t key = Key(group, element);
  auto it = std::lower_bound(
      table.begin(), table.end(), key,
      [](const DeidTableEntry& e, uint32_t k) {
        return Key(e.group, e.element) < k;
      });
  if (it == table.end() || Key(it->group, it->element) != key) return nullptr;
  return &*it;
}

bool DeidRepeatingGroupAction(uint16_t group, uint16_t element,
                              DeidAction* action) {
  if ((group & 0xFF00) == 0x5000 && (group & 1) == 0) {
    *action = DeidAction::kX;  // Curve Data
    return true;
  }
  if ((group & 0xFF00) == 0x6000 && (group & 1) == 0 &&
      (element == 0x3000 || element == 0x4000)) {
    *action = DeidAction::kX;  // Overlay Data, Overlay Comments
    return true;
  }
  return false;
}

}  // namespace medfs::ingest
