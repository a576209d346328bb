// The decoder's shape, DSA settings and the layout of its one flat parameter buffer.
import Foundation

/// Dense softmax attention over every earlier token, or DeepSeek Sparse Attention over the
/// lightning indexer's top-k.
public enum AttentionMode: String, Codable, Sendable, CaseIterable {
    case dense, sparse
}

/// A problem with a model, its config, its inputs or its checkpoint.
public enum ModelError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// A config, input or checkpoint Forge refuses, with the reason.
    case invalid(String)
    /// The config JSON does not decode; `problem` names the field.
    case configDoesNotDecode(problem: String, underlying: DecodingError)
    /// The config has a value JSON cannot hold (a non-finite number).
    case configDoesNotEncode(underlying: EncodingError)

    public init(_ description: String) { self = .invalid(description) }

    public var description: String {
        switch self {
        case .invalid(let message): return message
        case .configDoesNotDecode(let problem, _): return "config JSON does not decode: \(problem)"
        case .configDoesNotEncode(let underlying):
            return "config cannot be written as JSON: " + "\(underlying)".split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
    public var errorDescription: String? { description }

    /// Same message (the underlying decoding errors are compared by their messages).
    public static func == (lhs: ModelError, rhs: ModelError) -> Bool { lhs.description == rhs.description }
}

public struct TransformerConfig: Codable, Equatable, Sendable {
    public var layers: Int
    public var dModel: Int
    /// Query heads; all share one key/value head (multi-query attention).
    public var heads: Int
    public var headDim: Int
    /// RoPE on the first `ropeDims` of each query/key head; the rest carry no position, so
    /// a head can match content at any distance (DeepSeek's decoupled RoPE). Rotating every
    /// dimension of a 32-dim head at base 10,000 leaves one pair turning by less than a radian
    /// over 4,096 positions: almost nothing of the head could match content across a prompt.
    public var ropeDims: Int
    public var ffnHidden: Int
    /// Adds a learned projection (`token_shift`, [dModel, dModel], starting at 0) of the previous
    /// token's embedding to each token's, a token shift as in RWKV or modded-nanogpt's "smear":
    /// a key then also names the token before it, so one attention layer can find where the
    /// current token occurred and read what followed (copying) without the two-layer
    /// composition that forms slowly. A projection rather than a per-channel share, so the
    /// previous token can sit in its own subspace instead of blurring the current one.
    public var tokenShift: Bool
    /// Query/key width of the pointer (copy) head on the output, 0 for none: the next token is
    /// then a mixture of the vocabulary softmax and a copy of the token that followed an earlier
    /// position the head attends to (`PointerMixture`), so a patch can repeat the prompt's lines.
    public var copyDim: Int
    /// How many final hidden states the copy head's queries and keys read: this position's and
    /// the `copyNgram − 1` before it (1: this position's only). A query then names the last few
    /// tokens written and a key the few before a source, so the pointer matches a run of tokens
    /// rather than one: an indented line start or `self.` occurs all over a prompt, the line's
    /// first words once.
    public var copyNgram: Int
    /// Whether the copy head may follow its own pointer: position i's score for source j gains
    /// β·α_{i−1, j−1} (`copy_head.follow`, β learned) when the token i reads is the one source
    /// j − 1 voted for, so a copy that holds keeps going where it was instead of matching the
    /// recent tokens afresh at every step (and jumping to another place they occur), and stops
    /// where the written token departs from it.
    public var copyFollow: Bool
    /// Longest sequence (positions 0..<context).
    public var context: Int
    public var vocab: Int
    public var ropeBase: Float
    /// Lightning indexer: H_I heads of d_I dims, RoPE on the first `indexerRopeDims` of them.
    public var indexerHeads: Int
    public var indexerDim: Int
    public var indexerRopeDims: Int
    /// Keys each query keeps in sparse mode.
    public var topK: Int
    public var attention: AttentionMode
    public var normEps: Float

    public init(layers: Int, dModel: Int, heads: Int, headDim: Int? = nil, ropeDims: Int? = nil, ffnHidden: Int? = nil, tokenShift: Bool = true, copyDim: Int = 0, copyNgram: Int = 1, copyFollow: Bool = false, context: Int, vocab: Int,
                ropeBase: Float = 10000, indexerHeads: Int = 4, indexerDim: Int = 32, indexerRopeDims: Int? = nil,
                topK: Int = 512, attention: AttentionMode = .dense, normEps: Float = 1e-5) {
        self.layers = layers
        self.dModel = dModel
        self.heads = heads
        self.headDim = headDim ?? dModel / max(heads, 1)
        self.ropeDims = ropeDims ?? TransformerConfig.defaultRopeDims(headDim: self.headDim)
        self.ffnHidden = ffnHidden ?? (8 * dModel / 3 + 7) / 8 * 8
        self.tokenShift = tokenShift
        self.copyDim = copyDim
        self.copyNgram = copyNgram
        self.copyFollow = copyFollow
        self.context = context
        self.vocab = vocab
        self.ropeBase = ropeBase
        self.indexerHeads = indexerHeads
        self.indexerDim = indexerDim
        self.indexerRopeDims = indexerRopeDims ?? indexerDim / 2
        self.topK = topK
        self.attention = attention
        self.normEps = normEps
    }

    public func validate() throws {
        let positive: [(String, Int)] = [("layers", layers), ("dModel", dModel), ("heads", heads), ("headDim", headDim),
                                          ("ffnHidden", ffnHidden), ("context", context), ("vocab", vocab),
                                          ("indexerHeads", indexerHeads), ("indexerDim", indexerDim), ("topK", topK)]
        for (name, value) in positive where value <= 0 { throw ModelError("config \(name) is \(value); it must be positive") }
        guard headDim % 2 == 0 else { throw ModelError("config headDim \(headDim) must be even for RoPE") }
        guard ropeDims >= 0, ropeDims <= headDim, ropeDims % 2 == 0 else {
            throw ModelError("config ropeDims \(ropeDims) must be even and within headDim \(headDim)")
        }
        guard indexerRopeDims >= 0, indexerRopeDims <= indexerDim, indexerRopeDims % 2 == 0 else {
            throw ModelError("config indexerRopeDims \(indexerRopeDims) must be even and within indexerDim \(indexerDim)")
        }
        guard copyDim >= 0 else { throw ModelError("config copyDim \(copyDim) must be 0 (no copy head) or positive") }
        guard copyNgram >= 1, copyNgram <= 16 else { throw ModelError("config copyNgram \(copyNgram) must be within 1...16") }
        guard ropeBase > 0, normEps > 0 else { throw ModelError("config ropeBase and normEps must be positive") }
    }

    /// Half of each head rotated (rounded down to even), as DeepSeek keeps a position-free part.
    public static func defaultRopeDims(headDim: Int) -> Int { headDim / 4 * 2 }

    /// Configs written before `ropeDims`, `tokenShift` and the copy head's fields existed rotated every
    /// dimension of a head and had no shift nor copy head; they load that way, so old checkpoints compute what they were
    /// trained to.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layers = try container.decode(Int.self, forKey: .layers)
        dModel = try container.decode(Int.self, forKey: .dModel)
        heads = try container.decode(Int.self, forKey: .heads)
        headDim = try container.decode(Int.self, forKey: .headDim)
        ropeDims = try container.decodeIfPresent(Int.self, forKey: .ropeDims) ?? headDim
        ffnHidden = try container.decode(Int.self, forKey: .ffnHidden)
        tokenShift = try container.decodeIfPresent(Bool.self, forKey: .tokenShift) ?? false
        copyDim = try container.decodeIfPresent(Int.self, forKey: .copyDim) ?? 0
        copyNgram = try container.decodeIfPresent(Int.self, forKey: .copyNgram) ?? 1
        copyFollow = try container.decodeIfPresent(Bool.self, forKey: .copyFollow) ?? false
        context = try container.decode(Int.self, forKey: .context)
        vocab = try container.decode(Int.self, forKey: .vocab)
        ropeBase = try container.decode(Float.self, forKey: .ropeBase)
        indexerHeads = try container.decode(Int.self, forKey: .indexerHeads)
        indexerDim = try container.decode(Int.self, forKey: .indexerDim)
        indexerRopeDims = try container.decode(Int.self, forKey: .indexerRopeDims)
        topK = try container.decode(Int.self, forKey: .topK)
        attention = try container.decode(AttentionMode.self, forKey: .attention)
        normEps = try container.decode(Float.self, forKey: .normEps)
    }

    /// The config as sorted-key JSON (what checkpoints carry in their metadata). Throws rather
    /// than write an empty config when a value has no JSON form (a non-finite number).
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return String(decoding: try encoder.encode(self), as: UTF8.self) } catch let error as EncodingError {
            throw ModelError.configDoesNotEncode(underlying: error)
        }
    }

    public static func fromJSON(_ text: String) throws -> TransformerConfig {
        do { return try JSONDecoder().decode(TransformerConfig.self, from: Data(text.utf8)) } catch let error as DecodingError {
            throw ModelError.configDoesNotDecode(problem: ModelIOJSON.describe(error), underlying: error)
        }
    }
}

/// Where each named tensor lives in the flat parameter buffer.
public struct ParameterLayout: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// Matrices get weight decay; norms' gains and biases do not.
        public var decays: Bool { shape.count == 2 }
        public var isIndexer: Bool { name.contains(".indexer.") }
    }

    /// Offsets of one layer's tensors.
    public struct Layer: Sendable {
        public var attnNorm = 0, wq = 0, wk = 0, wv = 0, wo = 0, mlpNorm = 0, w1 = 0, w3 = 0, w2 = 0
        public var iwq = 0, iwk = 0, ilnWeight = 0, ilnBias = 0, iww = 0
    }

    public private(set) var entries: [Entry] = []
    public private(set) var layers: [Layer] = []
    public private(set) var embedding = 0
    /// The token shift's projection of the previous token's embedding (nil without a shift).
    public private(set) var tokenShift: Int?
    /// The pointer head's query, key and gate projections and the gate's bias (nil without one).
    public struct CopyHead: Sendable { public var wq = 0, wk = 0, gate = 0, gateBias = 0, follow: Int? = nil }
    public private(set) var copyHead: CopyHead?
    public private(set) var finalNorm = 0
    public private(set) var count = 0

    public init(_ c: TransformerConfig) {
        func add(_ name: String, _ shape: [Int]) -> Int {
            let entry = Entry(name: name, shape: shape, offset: count)
            entries.append(entry)
            count += entry.count
            return entry.offset
        }
        let C = c.dModel, HD = c.heads * c.headDim
        embedding = add("embedding", [c.vocab, C])
        if c.tokenShift { tokenShift = add("token_shift", [C, C]) }
        for l in 0..<c.layers {
            var layer = Layer()
            let p = "layers.\(l)."
            layer.attnNorm = add(p + "attn_norm", [C])
            layer.wq = add(p + "attn.wq", [HD, C])
            layer.wk = add(p + "attn.wk", [c.headDim, C])
            layer.wv = add(p + "attn.wv", [c.headDim, C])
            layer.wo = add(p + "attn.wo", [C, HD])
            layer.mlpNorm = add(p + "mlp_norm", [C])
            layer.w1 = add(p + "mlp.w1", [c.ffnHidden, C])
            layer.w3 = add(p + "mlp.w3", [c.ffnHidden, C])
            layer.w2 = add(p + "mlp.w2", [C, c.ffnHidden])
            layer.iwq = add(p + "attn.indexer.wq", [c.indexerHeads * c.indexerDim, C])
            layer.iwk = add(p + "attn.indexer.wk", [c.indexerDim, C])
            layer.ilnWeight = add(p + "attn.indexer.k_norm.weight", [c.indexerDim])
            layer.ilnBias = add(p + "attn.indexer.k_norm.bias", [c.indexerDim])
            layer.iww = add(p + "attn.indexer.weights", [c.indexerHeads, C])
            layers.append(layer)
        }
        finalNorm = add("final_norm", [C])
        if c.copyDim > 0 {
            copyHead = CopyHead(wq: add("copy_head.wq", [c.copyDim, c.copyNgram * C]), wk: add("copy_head.wk", [c.copyDim, c.copyNgram * C]),
                                gate: add("copy_head.gate", [1, C]), gateBias: add("copy_head.gate.bias", [1]),
                                follow: c.copyFollow ? add("copy_head.follow", [1]) : nil)
        }
    }

    /// Flat index ranges of the indexer's parameters (what the dense warm-up trains).
    public var indexerRanges: [Range<Int>] { entries.filter(\.isIndexer).map { $0.offset..<($0.offset + $0.count) } }
    public var allRanges: [Range<Int>] { [0..<count] }
}
