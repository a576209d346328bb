// How the RL stage picks its tasks when exploring past a strong SFT model:
//   - curriculum: tasks enter the pool by difficulty_level (synthetic 1..5; mined tasks, which
//     have none, count as 5), the highest level admitted rising linearly over the first
//     `curriculumFraction` of the steps;
//   - dynamic sampling (DAPO): groups whose rewards all agree carry no advantage, so a step keeps
//     drawing fresh tasks (up to `maxDrawRounds` rounds) until it has `tasksPerStep` informative
//     groups, and trains on those alone;
//   - retiring: a task whose whole group resolved is one the policy has; it is not drawn again
//     while other tasks remain.
import Foundation
import Model
import Store

public struct ExplorationSettings: Codable, Sendable, Equatable {
    public var dynamicSampling = false
    /// Rounds of drawing per step at most (each round draws the informative groups still missing).
    public var maxDrawRounds = 3
    public var curriculum = false
    /// Share of the steps over which the curriculum reaches the hardest level.
    public var curriculumFraction = 0.5
    public var retireSolved = false
    public init() {}
}

public struct TaskPool: Sendable {
    public let tasks: [TaskRecord]
    public let settings: ExplorationSettings
    /// Tasks whose whole group resolved (retired from drawing).
    public private(set) var solved = Set<String>()

    public init(tasks: [TaskRecord], settings: ExplorationSettings) {
        self.tasks = tasks
        self.settings = settings
    }

    public static func level(_ task: TaskRecord) -> Int { min(5, max(1, task.difficultyLevel ?? 5)) }

    /// The highest difficulty admitted at `step` of `total` (every level without a curriculum).
    public func highestLevel(step: Int, total: Int) -> Int {
        guard settings.curriculum, let lowest = tasks.map(Self.level).min() else { return 5 }
        let ramp = max(1.0, Double(total) * settings.curriculumFraction)
        let progress = min(1.0, Double(step + 1) / ramp)
        return lowest + Int((Double(5 - lowest) * progress).rounded(.up))
    }

    /// Tasks that may be drawn at `step`, leaving out `excluded` ids: the admitted levels, less
    /// the retired tasks; when that leaves nothing, the retired ones come back (then every level).
    public func eligible(step: Int, total: Int, excluding excluded: Set<String> = []) -> [TaskRecord] {
        let highest = highestLevel(step: step, total: total)
        let fresh = tasks.filter { !excluded.contains($0.instanceID) }
        let admitted = fresh.filter { Self.level($0) <= highest }
        let open = admitted.filter { !solved.contains($0.instanceID) }
        if !open.isEmpty { return open }
        if !admitted.isEmpty { return admitted }
        return fresh
    }

    public mutating func record(resolved: [Bool], task: String) {
        if settings.retireSolved, !resolved.isEmpty, resolved.allSatisfy({ $0 }) { solved.insert(task) }
    }
}

public enum DynamicSampling {
    /// Group ids whose rewards differ (a non-zero advantage somewhere), in order of appearance.
    public static func informativeGroups(_ rollouts: [Rollout]) -> [String] {
        var order: [String] = [], rewards: [String: Set<Double>] = [:]
        for rollout in rollouts {
            if rewards[rollout.groupID] == nil { order.append(rollout.groupID) }
            rewards[rollout.groupID, default: []].insert(rollout.reward)
        }
        return order.filter { rewards[$0]!.count > 1 }
    }
}
