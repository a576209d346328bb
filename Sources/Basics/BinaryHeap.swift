/// How a `BinaryHeap` orders its elements: `before(a, b)` is true when `a` must come out first.
/// A type rather than a closure, so that the heap's loops are specialised and inlined in the
/// tokenizer's and the miner's hot paths.
public protocol HeapOrder {
    associatedtype Element
    static func before(_ a: Element, _ b: Element) -> Bool
}

/// A binary heap in a plain array. Elements that tie under `Order` come out in the order the
/// sifts leave them: deterministic for a given sequence of pushes and pops, which the history
/// walks and the tokenizer's merges rely on.
public struct BinaryHeap<Order: HeapOrder> {
    public typealias Element = Order.Element
    @usableFromInline var entries: [Element] = []

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { entries.isEmpty }
    @inlinable public var count: Int { entries.count }

    /// Empties the heap, keeping its storage for reuse.
    @inlinable public mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    @inlinable public mutating func push(_ element: Element) {
        entries.append(element)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Order.before(entries[child], entries[parent]) else { break }
            entries.swapAt(parent, child)
            child = parent
        }
    }

    /// The first element by `Order`, or nil when the heap is empty.
    @inlinable public mutating func pop() -> Element? {
        guard let last = entries.popLast() else { return nil }
        guard !entries.isEmpty else { return last }
        let top = entries[0]
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { break }
            let first = left + 1 < entries.count && Order.before(entries[left + 1], entries[left]) ? left + 1 : left
            guard Order.before(entries[first], entries[parent]) else { break }
            entries.swapAt(parent, first)
            parent = first
        }
        return top
    }
}
