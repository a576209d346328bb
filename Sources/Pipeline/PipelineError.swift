/// A run that cannot go on, with one line naming the culprit (a path, a task, a repository).
/// Flag mistakes are the commands' own (`validate()`); this is what happens once running.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
