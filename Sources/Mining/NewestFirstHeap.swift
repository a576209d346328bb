/// A max-heap on commit time: the order in which git's (and libgit2's) history walks visit
/// commits, newest first. Equal times come out in the order the sift leaves them, as in the walks
/// that used their own copies of this heap.
struct NewestFirstHeap<Element> {
    private var entries: [(time: Int64, element: Element)] = []

    var isEmpty: Bool { entries.isEmpty }

    mutating func push(_ element: Element, time: Int64) {
        entries.append((time, element))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[parent].time < entries[child].time else { break }
            entries.swapAt(parent, child)
            child = parent
        }
    }

    /// The newest element; the heap must not be empty.
    mutating func pop() -> Element {
        let top = entries[0].element
        entries[0] = entries[entries.count - 1]
        entries.removeLast()
        var index = 0
        while true {
            let left = 2 * index + 1, right = left + 1
            var largest = index
            if left < entries.count && entries[left].time > entries[largest].time { largest = left }
            if right < entries.count && entries[right].time > entries[largest].time { largest = right }
            if largest == index { break }
            entries.swapAt(index, largest)
            index = largest
        }
        return top
    }
}
