// Checkpoints as safetensors: one tensor per layout entry (names like layers.0.attn.wq), the
// config JSON and a format tag in the header's metadata, readable by Python's safetensors.
import Foundation
import Tensor

extension Transformer {
    public static let checkpointFormat = "forge-dsa-transformer-1"

    /// Writes every parameter tensor plus metadata ("config", "format", and `extraMetadata`).
    public func save(to url: URL, extraMetadata: [String: String] = [:]) throws {
        let tensors = layout.entries.map { entry in
            (name: entry.name, shape: entry.shape, values: Array(UnsafeBufferPointer(start: params.pointer + entry.offset, count: entry.count)))
        }
        var metadata = extraMetadata
        metadata["config"] = try config.jsonString()
        metadata["format"] = Transformer.checkpointFormat
        try SafetensorsFile.write(tensors: tensors, metadata: metadata, to: url)
    }

    /// Rebuilds a model from a checkpoint written by `save`; every tensor must be present with
    /// its config's shape, and nothing else may be.
    public static func load(from url: URL) throws -> Transformer {
        let reader = try SafetensorsReader(url: url)
        guard let configText = reader.metadata["config"] else { throw ModelError("checkpoint \(url.path) has no config in its metadata") }
        let config = try TransformerConfig.fromJSON(configText)
        let model = try Transformer(config: config, seed: 0)
        let expected = Set(model.layout.entries.map(\.name)), present = Set(reader.tensors.map(\.name))
        if let extra = present.subtracting(expected).sorted().first { throw ModelError("checkpoint \(url.path) has an unexpected tensor \(extra)") }
        for entry in model.layout.entries {
            guard let info = reader.info(entry.name) else { throw ModelError("checkpoint \(url.path) lacks tensor \(entry.name)") }
            guard info.shape == entry.shape else {
                throw ModelError("checkpoint tensor \(entry.name) has shape \(info.shape), the config needs \(entry.shape)")
            }
            let values = try reader.values(entry.name)
            values.withUnsafeBufferPointer { (model.params.pointer + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
        }
        return model
    }
}
