import Foundation
import Store

/// A score as JSON: `POST /score`'s answer, and an agent sandbox's `/forge/submit`'s. `reward` is 1 for resolved, 0 for unresolved, empty or unappliable
/// patches, and null for infrastructure errors: those say nothing about the patch.
public struct ScoreResponse: Codable, Hashable, Sendable {
    public var instanceID: String
    public var model: String?
    public var status: String
    public var resolved: Bool
    public var reward: Double?
    public var f2pPassed: Int
    public var f2pTotal: Int
    public var p2pPassed: Int
    public var p2pTotal: Int
    public var logURL: String
    public var reportURL: String
    public var reason: String
    /// Set only for status `error`: says the reward is withheld and why.
    public var error: String?
    public var applyMethod: String?
    public var patchFixes: [String]
    public var touchesTests: [String]
    /// The result came from an earlier run of the same (instance, patch).
    public var cached: Bool
    public var patchKey: String
    /// Seconds the tests ran (0 when nothing ran).
    public var testSeconds: Double

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", model = "model_name_or_path", status, resolved, reward
        case f2pPassed = "f2p_passed", f2pTotal = "f2p_total", p2pPassed = "p2p_passed", p2pTotal = "p2p_total"
        case logURL = "log_url", reportURL = "report_url", reason, error, applyMethod = "apply_method"
        case patchFixes = "patch_fixes", touchesTests = "touches_tests", cached, patchKey = "patch_key"
        case testSeconds = "test_seconds"
    }

    /// Written by hand so that `reward` is always present: `null` for errors, never left out.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instanceID, forKey: .instanceID)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encode(status, forKey: .status)
        try container.encode(resolved, forKey: .resolved)
        try container.encode(reward, forKey: .reward) // Optional.encode writes null
        try container.encode(f2pPassed, forKey: .f2pPassed)
        try container.encode(f2pTotal, forKey: .f2pTotal)
        try container.encode(p2pPassed, forKey: .p2pPassed)
        try container.encode(p2pTotal, forKey: .p2pTotal)
        try container.encode(logURL, forKey: .logURL)
        try container.encode(reportURL, forKey: .reportURL)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(applyMethod, forKey: .applyMethod)
        try container.encode(patchFixes, forKey: .patchFixes)
        try container.encode(touchesTests, forKey: .touchesTests)
        try container.encode(cached, forKey: .cached)
        try container.encode(patchKey, forKey: .patchKey)
        try container.encode(testSeconds, forKey: .testSeconds)
    }

    public init(result: InstanceResult, task: TaskRecord, model: String?, key: String, cached: Bool) {
        instanceID = result.instanceID
        self.model = model
        status = result.status.rawValue
        resolved = result.status == .resolved
        switch result.status {
        case .resolved: reward = 1
        case .unresolved, .emptyPatch, .patchFailed, .testsModified: reward = 0
        case .error: reward = nil
        }
        error = result.status == .error
            ? "infrastructure error, not the patch's fault: no reward given (\(result.reason))" : nil
        f2pPassed = result.failToPass.success.count
        f2pTotal = task.failToPass.count
        p2pPassed = result.passToPass.success.count
        p2pTotal = task.passToPass.count
        let base = "/logs/\(ScoringService.folderName(key: key))/\(Identifier.pathComponent(result.instanceID))/"
        logURL = base + (result.logFile ?? "report.json")
        reportURL = base + "report.json"
        reason = result.reason
        applyMethod = result.applyMethod?.rawValue
        patchFixes = result.patchFixes.map(\.rawValue)
        touchesTests = result.testPathsTouched
        self.cached = cached
        patchKey = key
        testSeconds = result.wallSeconds
    }
}
